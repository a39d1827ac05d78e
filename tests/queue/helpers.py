"""Inserting datasets, strategies and runs with plain SQL, and running real worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "backtest-worker"


async def make_dataset_and_strategy(conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    dataset_id = await conn.fetchval(
        """
        INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,
                              storage_uri, hash)
        VALUES ('test', ARRAY['AAPL'], '1d', '2020-01-01', '2020-12-31', 252,
                'file:///tmp/test.parquet', md5(random()::text) || md5(random()::text))
        RETURNING id
        """
    )
    strategy_id = await conn.fetchval(
        """
        INSERT INTO strategies (name, version, params)
        VALUES ('sma_cross', md5(random()::text), '{"fast": 10, "slow": 30}')
        RETURNING id
        """
    )
    return dataset_id, strategy_id


async def insert_runs(
    conn: asyncpg.Connection,
    count: int = 1,
    *,
    config: dict[str, Any] | None = None,
    mode: str = "backtest",
    max_attempts: int = 3,
    priority: int = 0,
) -> list[uuid.UUID]:
    dataset_id = await conn.fetchval("SELECT id FROM datasets LIMIT 1")
    strategy_id = await conn.fetchval("SELECT id FROM strategies LIMIT 1")
    if dataset_id is None or strategy_id is None:
        dataset_id, strategy_id = await make_dataset_and_strategy(conn)
    rows = await conn.fetch(
        """
        INSERT INTO runs (dataset_id, strategy_id, initial_capital, config, mode, max_attempts,
                          priority)
        SELECT $1, $2, 10000, $3::text::jsonb, $4::run_mode, $5, $6 FROM generate_series(1, $7)
        RETURNING id
        """,
        dataset_id,
        strategy_id,
        json.dumps(config or {}),
        mode,
        max_attempts,
        priority,
        count,
    )
    return [row["id"] for row in rows]


def worker_env(database_url: str, **settings: Any) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WORKER_", "LEASE_", "POLL_", "RUN_", "SHUTDOWN_", "RETRY_"))
    }
    env.update(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        WORKER_ENV_FILE="/nonexistent/.env",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    )
    defaults: dict[str, Any] = {
        "lease_seconds": 5,
        "poll_interval_seconds": 0.5,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "shutdown_grace_seconds": 1,
    }
    defaults.update(settings)
    env.update({key.upper(): str(value) for key, value in defaults.items()})
    return env


class WorkerProcess:
    """`backtest-worker run` in a subprocess, its log in a file."""

    def __init__(
        self,
        database_url: str,
        log_dir: Path,
        *args: str,
        handler: str = "tests.queue.handlers:configured",
        **settings: Any,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(BIN), "run", "--handler", handler, *args],
            env=worker_env(database_url, **settings),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"event": "<text>", "text": line})
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def wait(self, within: float = 60) -> int:
        code = await asyncio.to_thread(self.proc.wait, within)
        self._log.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


async def wait_for(
    conn: asyncpg.Connection,
    query: str,
    *args: Any,
    within: float = 60,
    interval: float = 0.05,
) -> Any:
    """Poll `query` until it returns a truthy value (no timing assertions: just a bound)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        value = await conn.fetchval(query, *args)
        if value:
            return value
        if loop.time() > give_up:
            raise AssertionError(f"timed out waiting for: {query} {args}")
        await asyncio.sleep(interval)


async def run_row(conn: asyncpg.Connection, run_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
    assert row is not None
    return row


async def event_types(conn: asyncpg.Connection, run_id: uuid.UUID) -> Sequence[str]:
    rows = await conn.fetch("SELECT event_type FROM events WHERE run_id = $1 ORDER BY id", run_id)
    return [row["event_type"] for row in rows]
