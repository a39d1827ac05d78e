"""A real `backtest-worker serve` on a free port, and keys for it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.queue.helpers import BIN, ROOT, worker_env
from worker.admin.apikeys import hash_key, new_key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ApiServer:
    """uvicorn in a subprocess, its log in a file; `url` is its base URL."""

    def __init__(self, database_url: str, tmp_path: Path, **settings: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"api-{self.port}.log"
        self._log = self.log_path.open("wb")
        defaults: dict[str, Any] = {
            "artifact_dir": tmp_path / "artifacts",
            "data_dir": tmp_path / "data",
            "log_level": "INFO",
        }
        defaults.update(settings)
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=worker_env(database_url, **defaults),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, within: float = 60) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + within
        async with httpx.AsyncClient(base_url=self.url) as client:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"the API exited: {self.log_text()[-3000:]}")
                try:
                    if (await client.get("/healthz")).json()["listening"]:
                        return
                except httpx.TransportError:
                    pass
                if loop.time() > give_up:
                    raise AssertionError(f"the API did not start: {self.log_text()[-3000:]}")
                await asyncio.sleep(0.1)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


async def add_key(conn: asyncpg.Connection, scope: str = "write") -> str:
    """A key inserted as `apikey create` inserts it; returns the secret."""
    secret = new_key()
    await conn.execute(
        "INSERT INTO api_keys (name, scope, prefix, key_hash) VALUES ($1, $2, $3, $4)",
        f"test-{uuid.uuid4().hex[:6]}",
        scope,
        secret[:12],
        hash_key(secret),
    )
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
