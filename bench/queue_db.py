"""Shared by bench/pgbouncer.py and bench/table_health.py: a migrated database of the bench's
own, a small real dataset and strategy in it, runs inserted by plain SQL as Node does, and
`backtest-worker run` processes with the production handler."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from worker.db.migrate import upgrade
from worker.engine.bars import canonical_hash, write_canonical_parquet
from worker.engine.synthetic import generate_bars

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "backtest-worker"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
HANDLER = "worker.pipeline.runner:execute_run"
SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@asynccontextmanager
async def bench_database(
    server_url: str, prefix: str, revision: str = "head"
) -> AsyncIterator[str]:
    """A database migrated to `revision`, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url(server_url, name)
    try:
        await asyncio.to_thread(upgrade, url, revision)
        yield url
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def write_dataset(data_dir: Path) -> tuple[Any, Path]:
    """One symbol, 250 daily bars: a small real backtest."""
    bars = generate_bars(symbols=["AAA"], n_bars=250, seed=7)
    data_dir.mkdir(parents=True, exist_ok=True)
    return bars, write_canonical_parquet(bars, data_dir / f"{canonical_hash(bars)}.parquet")


async def add_dataset_and_strategy(
    conn: asyncpg.Connection, data_dir: Path
) -> tuple[uuid.UUID, uuid.UUID]:
    bars, path = await asyncio.to_thread(write_dataset, data_dir)
    content_hash = canonical_hash(bars)
    dataset_id = await conn.fetchval(
        """
        INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,
                              storage_uri, hash)
        VALUES ('bench', ARRAY['AAA'], '1d', $1, $2, $3, $4, $5) RETURNING id
        """,
        bars["timestamp"].min(),
        bars["timestamp"].max(),
        bars.height,
        str(path),
        content_hash,
    )
    strategy_id = await conn.fetchval(
        "INSERT INTO strategies (name, version, params) VALUES ('bench-sma', '1.0.0', $1::text::jsonb)"
        " RETURNING id",
        json.dumps(SMA),
    )
    return dataset_id, strategy_id


async def insert_runs(
    conn: asyncpg.Connection, dataset_id: uuid.UUID, strategy_id: uuid.UUID, count: int
) -> None:
    """`count` runs in one statement; no artifacts (the tables, not the files, are measured)."""
    await conn.execute(
        """
        INSERT INTO runs (dataset_id, strategy_id, initial_capital, config)
        SELECT $1, $2, 10000, '{"artifacts": []}' FROM generate_series(1, $3)
        """,
        dataset_id,
        strategy_id,
        count,
    )


def start_worker(url: str, work_dir: Path, *args: str, **settings: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WORKER_"))}
    env.update(
        DATABASE_URL=url,
        WORKER_ENV_FILE="/nonexistent/.env",
        PYTHONPATH=str(ROOT),
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
        DATA_DIR=str(work_dir / "data"),
        ARTIFACT_DIR=str(work_dir / "artifacts"),
    )
    env.update({key.upper(): str(value) for key, value in settings.items()})
    log = (work_dir / f"worker-{uuid.uuid4().hex[:6]}.log").open("wb")
    return subprocess.Popen(
        [str(BIN), "run", "--handler", HANDLER, *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
