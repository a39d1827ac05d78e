"""Named indexes exist with the right access method; cascades and RESTRICT behave."""

from __future__ import annotations

import asyncpg
import pytest

from tests.db.rows import insert_dataset, insert_run, insert_strategy

EXPECTED_INDEXES = {
    "ix_datasets_timeframe": "btree",
    "ix_datasets_daterange": "btree",
    "ix_runs_mode_date": "btree",
    "ix_strategies_params": "gin",
    "ix_runs_metadata": "gin",
    "ix_events_payload": "gin",
    "ix_events_run_timestamp": "btree",
    "ix_run_queue_pending": "btree",
    "ix_run_queue_lease": "btree",
    "uq_datasets_hash": "btree",
    "uq_strategies_name_version": "btree",
    "uq_artifacts_run_filename": "btree",
}


async def test_named_indexes_exist(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT i.relname AS name, am.amname AS method, pg_get_indexdef(i.oid) AS definition
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_am am ON am.oid = i.relam
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = 'public'
        """
    )
    found = {row["name"]: row for row in rows}
    for name, method in EXPECTED_INDEXES.items():
        assert name in found, f"missing index {name}"
        assert found[name]["method"] == method
    assert "WHERE (lease_expires_at IS NULL)" in found["ix_run_queue_pending"]["definition"]
    # No index of runs names a column the claim writes: its update can be HOT (migration 0015).
    claim_writes = ("status", "locked_by", "attempts", "started_at", "lease_expires_at", "progress")
    for name, row in found.items():
        if " ON public.runs " in row["definition"]:
            assert not any(column in row["definition"] for column in claim_writes), name


async def test_timestamps_are_timestamptz_and_money_numeric(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT table_name, column_name, data_type, numeric_precision, numeric_scale
        FROM information_schema.columns WHERE table_schema = 'public'
        """
    )
    for row in rows:
        if row["data_type"].startswith("timestamp"):
            assert row["data_type"] == "timestamp with time zone", row
    columns = {(row["table_name"], row["column_name"]): row for row in rows}
    for money in ("initial_capital", "final_value"):
        assert (
            columns["runs", money]["numeric_precision"],
            columns["runs", money]["numeric_scale"],
        ) == (18, 4)
    for ratio in ("total_return", "sharpe_ratio", "max_drawdown", "win_rate"):
        assert (
            columns["runs", ratio]["numeric_precision"],
            columns["runs", ratio]["numeric_scale"],
        ) == (10, 4)


async def test_deleting_a_run_cascades_to_artifacts_and_events(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    await conn.execute(
        """
        INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes, sha256)
        VALUES ($1, 'report', 'report.html', '/tmp/r.html', 'text/html', 1, $2)
        """,
        run_id,
        "c" * 64,
    )
    await conn.execute("INSERT INTO events (run_id, event_type) VALUES ($1, 'claimed')", run_id)
    await conn.execute("DELETE FROM runs WHERE id = $1", run_id)
    assert await conn.fetchval("SELECT count(*) FROM artifacts") == 0
    assert await conn.fetchval("SELECT count(*) FROM events") == 0


async def test_restrict_keeps_a_dataset_and_strategy_that_runs_use(
    conn: asyncpg.Connection,
) -> None:
    dataset_id = await insert_dataset(conn)
    strategy_id = await insert_strategy(conn)
    await insert_run(conn, dataset_id, strategy_id)
    # PostgreSQL 15 reports 23503 (foreign_key_violation), 18 reports 23001 (restrict_violation).
    refused = (asyncpg.ForeignKeyViolationError, asyncpg.RestrictViolationError)
    with pytest.raises(refused) as caught:
        await conn.execute("DELETE FROM datasets WHERE id = $1", dataset_id)
    assert caught.value.constraint_name == "fk_runs_dataset_id_datasets"
    with pytest.raises(refused) as caught:
        await conn.execute("DELETE FROM strategies WHERE id = $1", strategy_id)
    assert caught.value.constraint_name == "fk_runs_strategy_id_strategies"


async def test_event_ids_are_bigint_identity(conn: asyncpg.Connection) -> None:
    row = await conn.fetchrow(
        """
        SELECT data_type, is_identity FROM information_schema.columns
        WHERE table_name = 'events' AND column_name = 'id'
        """
    )
    assert row["data_type"] == "bigint" and row["is_identity"] == "YES"
