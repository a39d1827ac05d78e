"""The Node.js HTTP client (clients/node/http.js) against a real `backtest-worker serve` and a
real worker, and its generated types against docs/openapi.json."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import asyncpg
import pytest

from tests.api.server import ApiServer, add_key
from tests.e2e.test_backtest_runs import SMA, add_dataset, add_strategy
from tests.node.test_node_client import CLIENT_DIR, NODE, _run
from tests.queue.helpers import WorkerProcess

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (Node.js >= 18 is needed)"),
    pytest.mark.skipif(
        not (CLIENT_DIR / "node_modules" / "openapi-typescript").is_dir(),
        reason=f"the Node.js client's dependencies are not installed: run `npm ci` in {CLIENT_DIR}",
    ),
]


async def test_http_client_against_a_real_api_and_worker(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    assert NODE is not None
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    api = ApiServer(database_url, tmp_path)
    worker = WorkerProcess(
        database_url,
        tmp_path / "logs",
        handler="worker.pipeline.runner:execute_run",
        data_dir=tmp_path / "data",
        artifact_dir=tmp_path / "artifacts",
    )
    try:
        await api.ready()
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "BACKTEST_API_URL": api.url,
            "BACKTEST_API_KEY": await add_key(conn, "write"),
            "BACKTEST_DATASET_ID": str(dataset_id),
            "BACKTEST_STRATEGY_ID": str(strategy_id),
        }
        env.pop("NODE_OPTIONS", None)
        code, output = await _run(
            NODE, "--test", "--test-reporter=spec", "test/http.test.js", env=env
        )
        assert code == 0, (
            f"node --test test/http.test.js failed:\n{output}\n{api.log_text()[-2000:]}"
        )
        assert (
            "BACKTEST_API_URL is not set" not in output
            and "pass 2" in output
            and "skipped 0" in output
        ), output
    finally:
        worker.kill()
        api.stop()


async def test_generated_types_match_the_openapi_document(tmp_path: Path) -> None:
    npx = shutil.which("npx")
    assert npx is not None
    fresh = tmp_path / "openapi.d.ts"
    code, output = await _run(
        npx, "openapi-typescript", "../../docs/openapi.json", "-o", str(fresh), env=dict(os.environ)
    )
    assert code == 0, output
    assert filecmp.cmp(fresh, CLIENT_DIR / "openapi.d.ts", shallow=False), (
        "clients/node/openapi.d.ts is stale: run `npm run generate:types` in clients/node"
    )
