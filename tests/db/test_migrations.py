"""Migrations go up, down and up again on an empty database, and match the models exactly."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tests.db.rows import insert_dataset, insert_run, insert_strategy
from worker.config import load_settings
from worker.db import Base
from worker.db.migrate import downgrade, upgrade


async def _objects(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        return {
            "tables": await connection.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            ),
            "types": await connection.fetchval(
                "SELECT count(*) FROM pg_type WHERE typname IN ('run_mode', 'run_status', 'artifact_kind')"
            ),
            "functions": await connection.fetchval(
                "SELECT count(*) FROM pg_proc WHERE proname LIKE 'runs\\_%' OR proname LIKE 'events\\_%'"
            ),
        }
    finally:
        await connection.close()


async def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _objects(empty_database_url) == {"tables": 10, "types": 3, "functions": 10}
    await asyncio.to_thread(downgrade, empty_database_url, "0001")
    connection = await asyncpg.connect(empty_database_url)
    try:
        labels = await connection.fetchval("SELECT enum_range(NULL::artifact_kind)::text")
        assert labels == "{plot,report,csv,pickle,json}"
    finally:
        await connection.close()
    await asyncio.to_thread(downgrade, empty_database_url, "base")
    assert await _objects(empty_database_url) == {"tables": 0, "types": 0, "functions": 0}
    await asyncio.to_thread(upgrade, empty_database_url)
    assert await _objects(empty_database_url) == {"tables": 10, "types": 3, "functions": 10}


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_the_migrated_database(database_url: str) -> None:
    """What `alembic revision --autogenerate` would emit against the migrated database: nothing."""
    engine = create_async_engine(load_settings(database_url=database_url).sqlalchemy_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_0014_cancels_runs_left_pending_with_cancel_requested(
    empty_database_url: str,
) -> None:
    """Before 0014 a reaped run asked to stop stayed pending for ever; the migration ends it."""
    await asyncio.to_thread(upgrade, empty_database_url, "0013")
    connection = await asyncpg.connect(empty_database_url)
    try:
        dataset_id = await insert_dataset(connection)
        strategy_id = await insert_strategy(connection)
        stuck = await insert_run(connection, dataset_id, strategy_id)
        plain = await insert_run(connection, dataset_id, strategy_id)
        await connection.execute(
            "UPDATE runs SET status = 'running', locked_by = 'w', attempts = 1,"
            " lease_expires_at = now() + interval '1 minute' WHERE id = $1",
            stuck,
        )
        await connection.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", stuck)
        await connection.execute(
            "UPDATE runs SET status = 'pending', locked_by = NULL WHERE id = $1", stuck
        )
        assert (
            await connection.fetchval("SELECT status FROM runs WHERE id = $1", stuck) == "pending"
        )
        await asyncio.to_thread(upgrade, empty_database_url)
        rows = dict(await connection.fetch("SELECT id, status::text FROM runs"))
        assert rows == {stuck: "cancelled", plain: "pending"}
        event = await connection.fetchval(
            "SELECT payload::text FROM events WHERE run_id = $1 AND event_type = 'cancelled'", stuck
        )
        assert event == '{"reason": "cancel_requested", "attempt": 1}'
    finally:
        await connection.close()
