"""The README's HTTP API block runs as written, with curl and jq, against a real API and a
real worker (the block's `backtest-worker run --burst`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.api.server import ApiServer
from tests.e2e.test_readme import fenced_block_after
from tests.queue.helpers import BIN, worker_env


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
async def test_http_walkthrough_runs_as_written(
    api: ApiServer, database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    script = fenced_block_after("http-walkthrough")
    env = worker_env(database_url, data_dir=tmp_path / "data", artifact_dir=tmp_path / "artifacts")
    env["PATH"] = f"{BIN.parent}{os.pathsep}{env.get('PATH', '')}"
    env["LOG_LEVEL"] = "WARNING"
    env["API"] = api.url
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "event: completed" in done.stdout and '"status": "succeeded"' in done.stdout
    assert (tmp_path / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert await conn.fetchval("SELECT idempotency_key FROM runs") == "order-42"
