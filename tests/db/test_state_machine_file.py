"""docs/state_machine.sql is what a freshly migrated database holds; regenerate with
`python -m worker.db.state_machine DATABASE_URL > docs/state_machine.sql`."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from worker.db.state_machine import deparsed_by, object_names, state_machine_sql

FILE = Path(__file__).resolve().parents[2] / "docs" / "state_machine.sql"
STALE = "docs/state_machine.sql is stale: `python -m worker.db.state_machine URL > docs/state_machine.sql`"


async def test_file_matches_a_migrated_database(conn: asyncpg.Connection) -> None:
    written = FILE.read_text()
    current = await state_machine_sql(conn)
    assert object_names(current) == object_names(written), STALE
    if deparsed_by(current) == deparsed_by(written):
        assert current == written, STALE


def test_file_names_every_lifecycle_trigger() -> None:
    names = object_names(FILE.read_text())
    for trigger in (
        "runs_guard_transition",
        "runs_notify_completed",
        "runs_notify_pending_insert",
        "runs_notify_pending_update",
    ):
        assert trigger in names
    assert "run_status" in names
