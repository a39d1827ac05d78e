"""GET /runs: filters and cursor paging, newest first, no run twice, none missed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from tests.api.server import ApiServer
from tests.queue.helpers import insert_runs, make_dataset_and_strategy


async def all_pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_runs_filter_and_page(
    api: ApiServer, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    first = await insert_runs(conn, 4)
    await conn.execute("UPDATE runs SET created_at = created_at - interval '1 hour'")
    second = await insert_runs(conn, 3)  # same timestamp within a statement: ties on id
    other_dataset, other_strategy = await make_dataset_and_strategy(conn)
    other = await conn.fetchval(
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital) VALUES ($1, $2, 500) RETURNING id",
        other_dataset,
        other_strategy,
    )
    await conn.execute(
        "UPDATE runs SET cancel_requested = true WHERE id = ANY($1::uuid[])", first[:2]
    )

    runs = await all_pages(client, "/api/v1/runs", limit=3)
    ids = [r["id"] for r in runs]
    assert len(ids) == len(set(ids)) == 8
    assert {str(i) for i in [*first, *second, other]} == set(ids)
    stamps = [r["created_at"] for r in runs]
    assert stamps == sorted(stamps, reverse=True)
    assert set(ids[-4:]) == {str(i) for i in first}

    cancelled = await all_pages(client, "/api/v1/runs", status="cancelled", limit=1)
    assert {r["id"] for r in cancelled} == {str(i) for i in first[:2]}
    by_strategy = await all_pages(client, "/api/v1/runs", strategy_id=str(other_strategy))
    assert [r["id"] for r in by_strategy] == [str(other)]
    by_dataset = await all_pages(client, "/api/v1/runs", dataset_id=str(other_dataset))
    assert [r["id"] for r in by_dataset] == [str(other)]
    cutoff = await conn.fetchval("SELECT max(created_at) FROM runs") - timedelta(minutes=30)
    older = await all_pages(client, "/api/v1/runs", created_before=cutoff.isoformat(), limit=2)
    newer = await all_pages(client, "/api/v1/runs", created_after=cutoff.isoformat(), limit=2)
    assert {r["id"] for r in older} == {str(i) for i in first}
    assert {r["id"] for r in newer} == {str(i) for i in [*second, other]}
    assert await all_pages(client, "/api/v1/runs", mode="paper") == []
    await conn.execute(
        "UPDATE runs SET config = config || jsonb_build_object('label', $2::text) WHERE id = $1",
        second[0],
        "Base case 100%_v2",
    )
    for part in ("base CASE", "100%_v", "%"):
        labelled = await all_pages(client, "/api/v1/runs", label=part)
        assert [r["id"] for r in labelled] == [str(second[0])], part
    assert await all_pages(client, "/api/v1/runs", label="100%v") == []  # % is literal

    strategies = await all_pages(client, "/api/v1/strategies", limit=1)
    assert len(strategies) == 2
    datasets = await all_pages(client, "/api/v1/datasets", limit=1)
    assert len(datasets) == 2
