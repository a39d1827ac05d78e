"""POST /runs refuses at once what a worker would fail at once, with the worker's error type;
nothing is enqueued. (Over SQL the same rows are accepted and the worker fails the run.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.server import ApiServer
from tests.e2e.test_backtest_runs import SMA, add_dataset, add_strategy


@pytest.mark.parametrize(
    ("config", "problem", "words"),
    [
        ({"commision": 0.001}, "invalid-config", "commision"),
        ({"params": {"fast_period": 80}}, "invalid-params", "fast_period must be less than"),
        ({"symbols": ["ZZZ"]}, "unknown-symbol", "the dataset has AAA, BBB"),
        ({"artifacts": ["report.pdf"]}, "invalid-config", "report.pdf"),
        ({"commission": float("nan")}, "validation", "NaN"),
    ],
)
async def test_inputs_the_worker_would_refuse_are_422(
    api: ApiServer,
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    tmp_path: Path,
    config: dict[str, Any],
    problem: str,
    words: str,
) -> None:
    body = {
        "dataset_id": str(await add_dataset(conn, tmp_path / "data")),
        "strategy_id": str(await add_strategy(conn, SMA)),
    }
    refused = await client.post(
        "/api/v1/runs",
        content=json.dumps(
            {**body, "config": config}
        ),  # allows NaN, as JavaScript clients may send
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"] == f"/problems/{problem}"
    assert words in refused.json()["detail"]
    assert await conn.fetchval("SELECT count(*) FROM runs") == 0
    accepted = await client.post("/api/v1/runs", json={**body, "config": {"commission": 0.001}})
    assert accepted.status_code == 201, accepted.text
