"""Behind PgBouncer in transaction mode: everything but LISTEN goes through the pooler
(DATABASE_URL, DATABASE_STATEMENT_CACHE=0), the one LISTEN connection goes direct
(DATABASE_LISTEN_URL). Real runs, a real `backtest-worker run`, a real pgbouncer process."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tests.e2e.test_backtest_runs import HANDLER, SMA, add_dataset, add_run, add_strategy
from tests.pgbouncer import PgBouncer, pgbouncer  # noqa: F401
from tests.queue.helpers import WorkerProcess, wait_for

RUNS = 12
POLL_SECONDS = 120
LISTEN_BACKENDS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name LIKE 'backtest-worker/listen/%'"
)


def pooled_worker(
    bouncer: PgBouncer, database_url: str, tmp_path: Path, *args: str, **settings: object
) -> WorkerProcess:
    database = make_url(database_url).database
    assert database is not None
    return WorkerProcess(
        bouncer.url(database),
        tmp_path / "logs",
        *args,
        handler=HANDLER,
        database_listen_url=database_url,
        database_statement_cache=0,
        artifact_dir=tmp_path / "artifacts",
        data_dir=tmp_path / "data",
        worker_concurrency=2,
        **settings,
    )


def no_statement_errors(worker: WorkerProcess, bouncer: PgBouncer) -> None:
    for text in (worker.log_text(), bouncer.log_text()):
        assert "prepared statement" not in text, text[-3000:]


async def test_a_burst_drains_real_runs_through_pgbouncer(
    pgbouncer: PgBouncer,  # noqa: F811
    database_url: str,
    conn: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    run_ids = [
        await add_run(conn, dataset_id, strategy_id, {"commission": 0.001}) for _ in range(RUNS)
    ]
    worker = pooled_worker(pgbouncer, database_url, tmp_path, "--burst")
    assert await worker.wait(within=300) == 0, worker.log_text()[-3000:]

    rows = await conn.fetch("SELECT status, error FROM runs WHERE id = ANY($1)", run_ids)
    assert [row["status"] for row in rows] == ["succeeded"] * RUNS, [r["error"] for r in rows]
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM events WHERE run_id = ANY($1) AND event_type = 'completed'",
            run_ids,
        )
        == RUNS
    )
    assert (
        await conn.fetchval("SELECT count(*) FROM artifacts WHERE run_id = ANY($1)", run_ids)
        == 4 * RUNS
    )
    database = make_url(database_url).database
    assert f"login attempt: db={database}" in pgbouncer.log_text(), "the worker bypassed it"
    no_statement_errors(worker, pgbouncer)


async def test_an_idle_worker_behind_pgbouncer_is_woken_by_notify(
    pgbouncer: PgBouncer,  # noqa: F811
    database_url: str,
    conn: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    """The poll is two minutes: a run picked up within a minute was woken by NOTIFY, which
    reaches the worker only on its direct LISTEN connection."""
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    worker = pooled_worker(
        pgbouncer,
        database_url,
        tmp_path,
        poll_interval_seconds=POLL_SECONDS,
        lease_seconds=POLL_SECONDS,
    )
    try:
        await wait_for(conn, LISTEN_BACKENDS, within=30)
        for _ in range(3):  # each one after the worker is idle again
            run_id = await add_run(conn, dataset_id, strategy_id)
            await wait_for(
                conn,
                "SELECT status = 'succeeded' FROM runs WHERE id = $1",
                run_id,
                within=POLL_SECONDS / 2,
            )
    finally:
        worker.kill()
    no_statement_errors(worker, pgbouncer)
