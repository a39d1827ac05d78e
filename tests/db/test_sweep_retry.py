"""`retry_run` of a sweep (migration 0012), through the worker's own statements: the failed
and cancelled children run again, the succeeded ones are kept with their chunks, the parent
waits and fans in once; a child is not retried on its own, nor a sweep whose children are
still stopping."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.db.test_sweep_triggers import (
    WORKER,
    claim,
    complete,
    status,
    sweep,
)
from tests.db.test_triggers import Listener
from worker.queue import fleet, queries

ERROR = {"type": "dataset_missing", "message": "the dataset file x does not exist", "detail": {}}


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[Listener]:
    connection = await asyncpg.connect(database_url)
    yield Listener(connection)
    await connection.close()


async def fail(db: asyncpg.Connection, run_id: uuid.UUID) -> None:
    assert await queries.fail(db, WORKER, [(run_id, 1, ERROR)]) == {run_id}


async def store_chunk(conn: asyncpg.Connection, child: uuid.UUID, parent: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO sweep_chunks (run_id, parent_id, chunk_index, combinations, partitions,"
        " rows, counts, powers) VALUES ($1, $2, 0, 1, 1, '\\x5b5d', '\\x', '\\x')",
        child,
        parent,
    )


async def retry_events(conn: asyncpg.Connection, run_id: uuid.UUID) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT payload FROM events WHERE run_id = $1 AND event_type = 'retry_requested'"
        " ORDER BY id",
        run_id,
    )
    return [json.loads(r["payload"]) for r in rows]


async def test_retrying_a_failed_sweep_requeues_its_failed_and_cancelled_children(
    conn: asyncpg.Connection, db: asyncpg.Connection, listener: Listener
) -> None:
    parent, (done, failing, pending) = await sweep(conn, db, 3)
    await claim(conn, done)
    assert await complete(db, done) == {done}
    await store_chunk(conn, done, parent)
    await claim(conn, failing)
    await fail(db, failing)  # fails the sweep; the pending child is cancelled at once
    assert await status(conn, parent) == "failed"
    assert await status(conn, pending) == "cancelled"
    await listener.listen("runs_pending")

    retried = await fleet.retry_run(db, parent, 2)
    assert retried is not None and retried.status == "waiting"
    assert await listener.next() == ""
    row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", parent)
    assert row["error"] is None and row["finished_at"] is None and not row["cancel_requested"]
    assert row["max_attempts"] == row["attempts"] + 2
    progress = json.loads(row["progress"])
    # children hold 3, 4 and 5 combinations (tests/db/test_sweep_triggers.sweep)
    assert progress["stage"] == "sweep" and progress["finished_combinations"] == 3
    assert progress["combinations"] == 12
    for child in (failing, pending):
        kid = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", child)
        assert kid["status"] == "pending" and kid["error"] is None
        assert not kid["cancel_requested"] and kid["finished_at"] is None
        assert kid["max_attempts"] == kid["attempts"] + 2
    [failed_event] = await retry_events(conn, failing)
    assert failed_event["previous_status"] == "failed"
    assert failed_event["previous_error"] == ERROR and failed_event["sweep_id"] == str(parent)
    [cancelled_event] = await retry_events(conn, pending)
    assert cancelled_event["previous_status"] == "cancelled"
    [parent_event] = await retry_events(conn, parent)
    assert parent_event["previous_status"] == "failed" and parent_event["children_requeued"] == 2
    assert parent_event["previous_error"]["detail"]["child_run_id"] == str(failing)
    # the succeeded child is kept, with its chunk, and not run again
    assert await status(conn, done) == "succeeded"
    assert await conn.fetchval("SELECT count(*) FROM sweep_chunks WHERE run_id = $1", done) == 1
    assert await retry_events(conn, done) == []


async def test_the_retried_sweep_fans_in_once_when_its_last_child_finishes(
    conn: asyncpg.Connection, db: asyncpg.Connection, listener: Listener
) -> None:
    parent, (failing, pending) = await sweep(conn, db, 2)
    await claim(conn, failing)
    await fail(db, failing)
    await listener.listen("run_completed")
    assert await fleet.retry_run(db, parent, 3) is not None
    for child in (failing, pending):
        await conn.execute(
            "UPDATE runs SET status = 'running', locked_by = $2, attempts = 1,"
            " lease_expires_at = now() + interval '30 seconds', started_at = now()"
            " WHERE id = $1",
            child,
            WORKER,
        )
    assert await complete(db, failing) == {failing}
    assert await status(conn, parent) == "waiting"
    assert await complete(db, pending) == {pending}
    assert await status(conn, parent) == "pending"
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM events WHERE run_id = $1 AND event_type = 'children_finished'",
            parent,
        )
        == 1
    )
    assert await listener.nothing_within(0.3)  # no run_completed until the parent itself ends


async def test_a_cancelled_sweep_is_retried_the_same_way(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    parent, children = await sweep(conn, db, 2)
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", parent)
    assert await status(conn, parent) == "cancelled"
    retried = await fleet.retry_run(db, parent, 3)
    assert retried is not None and retried.status == "waiting"
    assert [await status(conn, c) for c in children] == ["pending", "pending"]
    assert not await conn.fetchval("SELECT cancel_requested FROM runs WHERE id = $1", parent)


async def test_a_sweep_that_failed_in_its_fan_in_goes_back_to_pending(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    parent, (only,) = await sweep(conn, db, 1)
    await claim(conn, only)
    assert await complete(db, only) == {only}
    assert await status(conn, parent) == "pending"  # fanned in
    await claim(conn, parent)
    await fail(db, parent)
    retried = await fleet.retry_run(db, parent, 3)
    assert retried is not None and retried.status == "pending"
    assert await status(conn, only) == "succeeded"
    [event] = await retry_events(conn, parent)
    assert event["children_requeued"] == 0


async def test_a_stopping_child_whose_worker_died_is_requeued(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    """A running child asked to stop whose worker died: the reaper ends it cancelled (before
    migration 0014 it was left pending, where no claim takes it); the retry runs it again."""
    parent, (failing, orphan) = await sweep(conn, db, 2)
    await claim(conn, orphan)
    await claim(conn, failing)
    await fail(db, failing)
    assert await conn.fetchval("SELECT cancel_requested FROM runs WHERE id = $1", orphan)
    await conn.execute("UPDATE runs SET lease_expires_at = now() - interval '1 second'")
    await queries.reap(db)
    assert await status(conn, orphan) == "cancelled"
    retried = await fleet.retry_run(db, parent, 3)
    assert retried is not None and retried.status == "waiting"
    row = await conn.fetchrow(
        "SELECT status::text, cancel_requested FROM runs WHERE id = $1", orphan
    )
    assert row["status"] == "pending" and not row["cancel_requested"]


async def test_retrying_a_child_is_refused_with_the_sweep_to_retry(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    parent, (failing, _pending) = await sweep(conn, db, 2)
    await claim(conn, failing)
    await fail(db, failing)
    with pytest.raises(fleet.NotRetryable) as refused:
        await fleet.retry_run(db, failing, 3)
    assert str(parent) in refused.value.message and "retry the sweep" in refused.value.message
    assert refused.value.hint is not None and "retry_run" in refused.value.hint
    assert await status(conn, failing) == "failed"
    assert await status(conn, parent) == "failed"


async def test_retrying_a_sweep_whose_children_are_still_stopping_is_refused(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    parent, (failing, stopping) = await sweep(conn, db, 2)
    await claim(conn, stopping)
    await claim(conn, failing)
    await fail(db, failing)
    with pytest.raises(fleet.NotRetryable) as refused:
        await fleet.retry_run(db, parent, 3)
    assert "1 running child" in refused.value.message
    assert await status(conn, parent) == "failed"
    assert await status(conn, failing) == "failed"  # nothing changed
    assert await queries.cancel(db, WORKER, [(stopping, 1)]) == {stopping}
    retried = await fleet.retry_run(db, parent, 3)
    assert retried is not None and retried.status == "waiting"


async def test_a_plain_update_still_cannot_revive_a_child_or_park_a_finished_run(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    parent, (failing, _pending) = await sweep(conn, db, 2)
    await claim(conn, failing)
    await fail(db, failing)
    for run_id, target in ((failing, "pending"), (parent, "waiting"), (parent, "pending")):
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(f"UPDATE runs SET status = '{target}' WHERE id = $1", run_id)
