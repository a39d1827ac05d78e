"""The queue tables' storage parameters (migrations 0007 and 0015), as the server reports them."""

from __future__ import annotations

import asyncpg


async def _options(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    options = await conn.fetchval("SELECT reloptions FROM pg_class WHERE relname = $1", table)
    return dict(option.split("=", 1) for option in options or [])


async def test_runs_leave_room_for_hot_updates_and_vacuum_early(conn: asyncpg.Connection) -> None:
    assert await _options(conn, "runs") == {
        "fillfactor": "50",
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_vacuum_threshold": "200",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_analyze_threshold": "200",
    }


async def test_run_queue_is_vacuumed_early(conn: asyncpg.Connection) -> None:
    assert await _options(conn, "run_queue") == {
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_vacuum_threshold": "200",
        "autovacuum_analyze_scale_factor": "0.02",
        "autovacuum_analyze_threshold": "200",
    }


async def test_events_are_vacuumed_and_analyzed_after_inserts(conn: asyncpg.Connection) -> None:
    assert await _options(conn, "events") == {
        "autovacuum_vacuum_insert_scale_factor": "0.05",
        "autovacuum_analyze_scale_factor": "0.05",
    }
