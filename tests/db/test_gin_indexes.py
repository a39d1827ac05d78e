"""What the GIN indexes cover and answer (migration 0016): `ix_runs_metadata` by leaf path,
`ix_events_payload` only the events off a run's way to success."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from tests.db.rows import insert_dataset, insert_run, insert_strategy

SUCCESS_PATH = (
    "claimed",
    "dataset_loaded",
    "simulation_started",
    "trade_entry",
    "trade_exit",
    "metrics",
    "completed",
)
OFF_THE_SUCCESS_PATH = ("error", "failed", "retried", "lease_expired", "cancelled", "handed_back")


async def _plan(conn: asyncpg.Connection, query: str, *args: object) -> str:
    rows = await conn.fetch("EXPLAIN (COSTS OFF) " + query, *args)
    return "\n".join(row[0] for row in rows)


async def _index_only(conn: asyncpg.Connection) -> None:
    await conn.execute("SET enable_seqscan = off; SET plan_cache_mode = force_custom_plan")


async def _run(conn: asyncpg.Connection) -> uuid.UUID:
    return await insert_run(conn, await insert_dataset(conn), await insert_strategy(conn))


async def test_metadata_index_is_by_path_and_answers_containment(
    conn: asyncpg.Connection,
) -> None:
    opclass = await conn.fetchval(
        "SELECT o.opcname FROM pg_index AS i JOIN pg_opclass AS o ON o.oid = i.indclass[0]"
        " WHERE i.indexrelid = 'ix_runs_metadata'::regclass"
    )
    assert opclass == "jsonb_path_ops"
    wanted, other = await _run(conn), await _run(conn)
    await conn.execute(
        "UPDATE runs SET metadata = $2::jsonb WHERE id = $1",
        wanted,
        json.dumps({"sweep": {"parent_id": "p1", "index": 0}, "timings": {"total": 1.5}}),
    )
    await conn.execute(
        "UPDATE runs SET metadata = $2::jsonb WHERE id = $1",
        other,
        json.dumps({"sweep": {"parent_id": "p2", "index": 0}}),
    )
    await _index_only(conn)
    query = "SELECT id FROM runs WHERE metadata @> $1::jsonb"
    needle = json.dumps({"sweep": {"parent_id": "p1"}})
    assert "ix_runs_metadata" in await _plan(conn, query, needle)
    assert [row["id"] for row in await conn.fetch(query, needle)] == [wanted]


@pytest.mark.parametrize("event_type", SUCCESS_PATH)
async def test_payload_index_leaves_out_the_success_path(
    conn: asyncpg.Connection, event_type: str
) -> None:
    await _index_only(conn)
    plan = await _plan(
        conn,
        "SELECT id FROM events WHERE event_type = $1 AND payload @> $2::jsonb",
        event_type,
        json.dumps({"worker_id": "w"}),
    )
    assert "ix_events_payload" not in plan


@pytest.mark.parametrize("event_type", OFF_THE_SUCCESS_PATH)
async def test_payload_index_answers_the_other_events(
    conn: asyncpg.Connection, event_type: str
) -> None:
    run_id = await _run(conn)
    await conn.executemany(
        "INSERT INTO events (run_id, event_type, payload) VALUES ($1, $2, $3::jsonb)",
        [
            (run_id, event_type, json.dumps({"worker_id": "w1", "type": "timeout"})),
            (run_id, event_type, json.dumps({"worker_id": "w2"})),
            (run_id, "completed", json.dumps({"worker_id": "w1"})),
        ],
    )
    await _index_only(conn)
    query = "SELECT payload FROM events WHERE event_type = $1 AND payload @> $2::jsonb"
    needle = json.dumps({"worker_id": "w1"})
    assert "ix_events_payload" in await _plan(conn, query, event_type, needle)
    rows = await conn.fetch(query, event_type, needle)
    assert [json.loads(row["payload"]) for row in rows] == [{"worker_id": "w1", "type": "timeout"}]
