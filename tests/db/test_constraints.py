"""Every named constraint rejects the bad row it exists for; enums store lowercase values."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.db.rows import insert_dataset, insert_run, insert_strategy

SUCCEEDED_METRICS = """
UPDATE runs SET status = 'running', locked_by = 'w', lease_expires_at = now() + interval '1 min'
WHERE id = $1
"""


async def _violates(coro: object, constraint: str) -> None:
    with pytest.raises(asyncpg.IntegrityConstraintViolationError) as caught:
        await coro  # type: ignore[misc]
    assert caught.value.constraint_name == constraint, caught.value


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"hash": "A" * 64}, "ck_datasets_hash_format"),
        ({"hash": "abc"}, "ck_datasets_hash_format"),
        ({"end_date": "2023-01-01T00:00:00Z"}, "ck_datasets_daterange"),
        ({"row_count": 0}, "ck_datasets_row_count_positive"),
        ({"symbols": []}, "ck_datasets_symbols_nonempty"),
        ({"timeframe": "daily"}, "ck_datasets_timeframe_format"),
    ],
)
async def test_dataset_checks(conn: asyncpg.Connection, overrides: dict, constraint: str) -> None:
    await _violates(insert_dataset(conn, **overrides), constraint)


async def test_dataset_hash_is_unique(conn: asyncpg.Connection) -> None:
    await insert_dataset(conn, hash="a" * 64)
    await _violates(insert_dataset(conn, hash="a" * 64, name="again"), "uq_datasets_hash")


async def test_strategy_name_version_unique_and_params_object(conn: asyncpg.Connection) -> None:
    await insert_strategy(conn, name="sma", version="1.0.0")
    await insert_strategy(conn, name="sma", version="1.1.0")
    await _violates(
        insert_strategy(conn, name="sma", version="1.0.0"), "uq_strategies_name_version"
    )
    await _violates(insert_strategy(conn, params=[1, 2]), "ck_strategies_params_object")


async def test_minimal_run_insert_gets_queue_defaults(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
    assert row["status"] == "pending"
    assert row["mode"] == "backtest"
    assert row["attempts"] == 0 and row["max_attempts"] == 3
    assert row["priority"] == 0 and row["cancel_requested"] is False
    assert row["config"] == "{}" and row["metadata"] == "{}"
    assert row["run_after"] is not None and row["created_at"] is not None
    assert row["total_return"] is None and row["metrics"] is None


@pytest.mark.parametrize(
    ("assignment", "constraint"),
    [
        ("initial_capital = 0", "ck_runs_initial_capital_positive"),
        ("attempts = -1", "ck_runs_attempts_nonnegative"),
        ("max_attempts = 0", "ck_runs_max_attempts_positive"),
        (
            "total_trades = 3, winning_trades = 1, losing_trades = 1",
            "ck_runs_trades_sum",
        ),
        ("max_drawdown = 0.1", "ck_runs_max_drawdown_nonpositive"),
        ("win_rate = 1.5", "ck_runs_win_rate_range"),
        ("status = 'running'", "ck_runs_running_has_lease"),
        ("config = '[]'::jsonb", "ck_runs_config_object"),
        ("error = '\"boom\"'::jsonb", "ck_runs_error_object"),
    ],
)
async def test_run_checks(conn: asyncpg.Connection, assignment: str, constraint: str) -> None:
    run_id = await insert_run(conn)
    await _violates(conn.execute(f"UPDATE runs SET {assignment} WHERE id = $1", run_id), constraint)


async def test_succeeded_run_must_have_its_metrics(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    await conn.execute(SUCCEEDED_METRICS, run_id)
    await _violates(
        conn.execute("UPDATE runs SET status = 'succeeded' WHERE id = $1", run_id),
        "ck_runs_succeeded_has_metrics",
    )
    await conn.execute(
        """
        UPDATE runs SET status = 'succeeded', final_value = 11000, total_return = 0.1,
            max_drawdown = -0.05, sharpe_ratio = NULL, win_rate = 0.5, total_trades = 2,
            winning_trades = 1, losing_trades = 1, metrics = $2::jsonb
        WHERE id = $1
        """,
        run_id,
        json.dumps({"sharpe_ratio": None}),
    )
    row = await conn.fetchrow("SELECT status, finished_at FROM runs WHERE id = $1", run_id)
    assert row["status"] == "succeeded" and row["finished_at"] is not None


async def test_run_foreign_keys(conn: asyncpg.Connection) -> None:
    import uuid

    dataset_id = await insert_dataset(conn)
    await _violates(insert_run(conn, dataset_id, uuid.uuid4()), "fk_runs_strategy_id_strategies")
    await _violates(insert_run(conn, uuid.uuid4()), "fk_runs_dataset_id_datasets")


async def test_artifact_checks(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    sql = """
        INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes, sha256)
        VALUES ($1, 'csv', $2, '/tmp/x.csv', 'text/csv', $3, $4)
    """
    await conn.execute(sql, run_id, "trades.csv", 10, "b" * 64)
    await _violates(
        conn.execute(sql, run_id, "trades.csv", 10, "b" * 64), "uq_artifacts_run_filename"
    )
    await _violates(
        conn.execute(sql, run_id, "x.csv", -1, "b" * 64), "ck_artifacts_size_nonnegative"
    )
    await _violates(conn.execute(sql, run_id, "y.csv", 1, "xyz"), "ck_artifacts_sha256_format")


async def test_event_payload_must_be_an_object(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    await _violates(
        conn.execute(
            "INSERT INTO events (run_id, event_type, payload) VALUES ($1, 'x', '[1]'::jsonb)",
            run_id,
        ),
        "ck_events_payload_object",
    )


async def test_enum_values_are_the_lowercase_contract(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        GROUP BY t.typname ORDER BY t.typname
        """
    )
    assert {row["typname"]: row["labels"] for row in rows} == {
        "artifact_kind": ["plot", "report", "csv", "pickle", "json", "parquet"],
        "run_mode": ["backtest", "paper", "live"],
        "run_status": ["pending", "running", "waiting", "succeeded", "failed", "cancelled"],
    }
    run_id = await insert_run(conn)
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await conn.execute("UPDATE runs SET mode = 'BACKTEST' WHERE id = $1", run_id)


async def test_orm_writes_lowercase_enum_values(database_url: str) -> None:
    from decimal import Decimal

    from sqlalchemy import select

    from worker.config import load_settings
    from worker.db import Dataset, Run, RunMode, RunStatus, Strategy
    from worker.db.session import create_engine, create_session_factory

    conn = await asyncpg.connect(database_url)
    try:
        dataset_id = await insert_dataset(conn)
        strategy_id = await insert_strategy(conn)
    finally:
        await conn.close()
    engine = create_engine(load_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    async with sessions() as session:
        run = Run(
            dataset_id=dataset_id,
            strategy_id=strategy_id,
            initial_capital=Decimal("5000"),
            mode=RunMode.PAPER,
        )
        session.add(run)
        await session.commit()
        loaded = (await session.execute(select(Run).where(Run.id == run.id))).scalar_one()
        assert loaded.mode is RunMode.PAPER and loaded.status is RunStatus.PENDING
        assert loaded.run_metadata == {}
        assert (await session.get(Dataset, dataset_id)) is not None
        assert (await session.get(Strategy, strategy_id)) is not None
    await engine.dispose()
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT mode::text FROM runs") == "paper"
    finally:
        await conn.close()
