"""Real `backtest-worker run` processes: environment, start, readiness, stop."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import asyncpg

from bench.queue_throughput import BIN, ROOT, env_for

# Worker settings that must not leak from the caller's environment into the workers.
STRIPPED_ENV_PREFIXES = (
    "WORKER_",
    "LEASE_",
    "POLL_",
    "RUN_",
    "SHUTDOWN_",
    "RETRY_",
    "HEARTBEAT_",
    "DB_",
    "DATABASE_",
    "DATA_DIR",
    "ARTIFACT_DIR",
    "DATASET_CACHE_DIR",
    "LOG_",
    "ENV",
    "DEBUG",
)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the worker gets SIGTERM if the benchmark dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def worker_env(url: str, dirs: dict[str, Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV_PREFIXES)}
    base = env_for(url)  # DATABASE_URL, PYTHONPATH, WORKER_ENV_FILE, LOG_LEVEL, LOG_FORMAT
    env.update({k: base[k] for k in ("DATABASE_URL", "PYTHONPATH", "WORKER_ENV_FILE")})
    env.update(
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        DATA_DIR=str(dirs["data"]),
        ARTIFACT_DIR=str(dirs["artifacts"]),
        DATASET_CACHE_DIR=str(dirs["cache"]),
    )
    return env


class Workers:
    """`count` real `backtest-worker run` processes (SIGTERM, then SIGKILL, on stop)."""

    live: ClassVar[list[Workers]] = []

    def __init__(
        self,
        env: dict[str, str],
        count: int,
        handler: str | None,
        concurrency: int | None,
        log_dir: Path,
        label: str,
    ) -> None:
        self.env, self.count, self.handler = env, count, handler
        self.concurrency, self.log_dir, self.label = concurrency, log_dir, label
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self) -> None:
        command = [str(BIN), "run"]
        if self.handler is not None:  # None: the worker's own default, the production handler
            command += ["--handler", self.handler]
        if self.concurrency is not None:
            command += ["--concurrency", str(self.concurrency)]
        Workers.live.append(self)
        for number in range(1, self.count + 1):
            log = self.log_dir / f"{self.label}-{number}.log"
            self.logs.append(log)
            with log.open("ab") as out:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        env=self.env,
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                    )
                )

    async def ready(self, conn: asyncpg.Connection, within: float = 60) -> None:
        """Each of these processes has its LISTEN connection idle and its claim connection
        open (application_name is backtest-worker/<role>/<host>:<pid>:<suffix>)."""
        host = socket.gethostname().split(".")[0][:40] or "host"  # as worker/queue/worker_id.py

        def prefix(role: str, pid: int) -> str:
            return f"backtest-worker/{role}/{host}:{pid}:"[:63]

        pids = {process.pid for process in self.processes}
        give_up = time.perf_counter() + within
        while True:
            self.check_alive()
            rows = await conn.fetch(
                "SELECT application_name AS name, state FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE 'backtest-worker/%'"
            )
            listening = {
                pid
                for pid in pids
                for row in rows
                if row["name"].startswith(prefix("listen", pid)) and row["state"] == "idle"
            }
            claiming = {
                pid for pid in pids for row in rows if row["name"].startswith(prefix("claim", pid))
            }
            if listening == pids and claiming == pids:
                await asyncio.sleep(0.5)
                return
            if time.perf_counter() > give_up:
                raise TimeoutError(f"{self.label}: workers not ready after {within:.0f} s")
            await asyncio.sleep(0.05)

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(
                    f"worker {process.pid} ({self.label}) exited with {process.returncode}:\n{tail}"
                )

    def stop(self, grace: float = 10.0) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        if self in Workers.live:
            Workers.live.remove(self)

    @classmethod
    def stop_all(cls, grace: float) -> None:
        """Every process still running (on error and on Ctrl-C)."""
        for workers in list(cls.live):
            workers.stop(grace=grace)
