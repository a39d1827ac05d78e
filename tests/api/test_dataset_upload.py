"""The HTTP upload refuses what `dataset import` refuses, with the same escape hatches."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx

from worker.engine.synthetic import generate_bars


async def test_upload_refuses_a_contradicting_timeframe_unless_forced(
    client: httpx.AsyncClient, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "daily.csv"
    generate_bars(symbols=["AAA"], n_bars=100, seed=5).write_csv(path)
    form = {"name": "daily", "timeframe": "1h"}
    refused = await client.post(
        "/api/v1/datasets", files={"file": ("daily.csv", path.read_bytes())}, data=form
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("timeframe-mismatch")
    assert refused.json()["inferred"] == "1d"
    forced = await client.post(
        "/api/v1/datasets",
        files={"file": ("daily.csv", path.read_bytes())},
        data={**form, "force": "true"},
    )
    assert forced.status_code == 201, forced.text
    assert forced.json()["timeframe"] == "1h"
    assert "--force" in forced.json()["description"]
    assert await conn.fetchval("SELECT count(*) FROM datasets") == 1


async def test_upload_takes_a_date_format_for_day_first_dates(
    client: httpx.AsyncClient,
) -> None:
    body = "Date,Open,High,Low,Close\n02/01/2015,1,1,1,1\n05/01/2015,1,1,1,1\n"
    form = {"name": "eu", "symbol": "EU"}
    refused = await client.post(
        "/api/v1/datasets", files={"file": ("eu.csv", body.encode())}, data=form
    )
    assert refused.status_code == 422 and "--date-format" in refused.json()["detail"]
    done = await client.post(
        "/api/v1/datasets",
        files={"file": ("eu.csv", body.encode())},
        data={**form, "date_format": "%d/%m/%Y"},
    )
    assert done.status_code == 201, done.text
    assert done.json()["start_date"].startswith("2015-01-02")
    assert "no volume column" in done.json()["description"]
