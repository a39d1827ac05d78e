"""The lifecycle the database enforces for every client: notifications, cancellation, guards."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from tests.db.rows import insert_dataset, insert_run, insert_strategy

CLAIM = """
UPDATE runs SET status = 'running', locked_by = 'test-worker', attempts = attempts + 1,
    lease_expires_at = now() + interval '30 seconds', started_at = now()
WHERE id = $1
"""


class Listener:
    """A second connection LISTENing on a channel, collecting payloads."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.payloads: asyncio.Queue[str] = asyncio.Queue()

    async def listen(self, channel: str) -> None:
        await self.connection.add_listener(channel, lambda *args: self.payloads.put_nowait(args[3]))

    async def next(self, within: float = 5.0) -> str:
        return await asyncio.wait_for(self.payloads.get(), within)

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.payloads.get(), seconds)
        except TimeoutError:
            return True
        return False


@pytest.fixture
async def listener(database_url: str):  # type: ignore[no-untyped-def]
    connection = await asyncpg.connect(database_url)
    yield Listener(connection)
    await connection.close()


async def test_plain_sql_insert_notifies_runs_pending(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    dataset_id = await insert_dataset(conn)
    strategy_id = await insert_strategy(conn)
    await listener.listen("runs_pending")
    await conn.execute(
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital) VALUES ($1, $2, 10000)",
        dataset_id,
        strategy_id,
    )
    assert await listener.next() == ""


async def test_one_notification_per_statement_not_per_row(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    dataset_id = await insert_dataset(conn)
    strategy_id = await insert_strategy(conn)
    await listener.listen("runs_pending")
    await conn.execute(
        """
        INSERT INTO runs (dataset_id, strategy_id, initial_capital)
        SELECT $1, $2, 1000 FROM generate_series(1, 50)
        """,
        dataset_id,
        strategy_id,
    )
    await listener.next()
    assert await listener.nothing_within(0.3)


async def test_trigger_levels(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT tgname, (tgtype & 1) = 1 AS per_row FROM pg_trigger
        WHERE tgrelid = 'runs'::regclass AND NOT tgisinternal ORDER BY tgname
        """
    )
    assert {row["tgname"]: row["per_row"] for row in rows} == {
        "runs_cascade_events_deleted": False,
        "runs_cascade_events_id_changed": True,
        "runs_cascade_events_truncated": False,
        "runs_enqueue_inserted": False,
        "runs_guard_transition": True,
        "runs_notify_completed": True,
        "runs_notify_pending_insert": False,
        "runs_notify_pending_update": True,
        "runs_queue_sync": True,
        "runs_sweep_cancel_children": True,
        "runs_sweep_children_finished": True,
    }


async def test_requeue_to_pending_notifies(conn: asyncpg.Connection, listener: Listener) -> None:
    run_id = await insert_run(conn)
    await conn.execute(CLAIM, run_id)
    await listener.listen("runs_pending")
    await conn.execute("UPDATE runs SET status = 'pending', locked_by = NULL WHERE id = $1", run_id)
    assert await listener.next() == ""
    row = await conn.fetchrow("SELECT lease_expires_at FROM runs WHERE id = $1", run_id)
    assert row["lease_expires_at"] is None


async def test_requeue_of_many_runs_notifies_once(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    ids = [await insert_run(conn) for _ in range(20)]
    for run_id in ids:
        await conn.execute(CLAIM, run_id)
    await listener.listen("runs_pending")
    await conn.execute(
        "UPDATE runs SET status = 'pending', locked_by = NULL WHERE id = ANY($1::uuid[])", ids
    )
    assert await listener.next() == ""
    assert await listener.nothing_within(0.3)


async def test_updates_that_requeue_nothing_do_not_notify(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    pending, running = await insert_run(conn), await insert_run(conn)
    await conn.execute(CLAIM, running)
    await listener.listen("runs_pending")
    await conn.execute("UPDATE runs SET priority = 5 WHERE id = $1", pending)
    await conn.execute("UPDATE runs SET status = 'pending' WHERE id = $1", pending)
    await conn.execute(
        "UPDATE runs SET lease_expires_at = now() + interval '1 minute' WHERE id = $1", running
    )
    assert await listener.nothing_within(0.3)


async def test_terminal_status_notifies_run_completed(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    run_id = await insert_run(conn)
    await conn.execute(CLAIM, run_id)
    await listener.listen("run_completed")
    error = {"type": "invalid_params", "message": "x" * 5000, "detail": {}}
    await conn.execute(
        "UPDATE runs SET status = 'failed', error = $2::jsonb WHERE id = $1",
        run_id,
        json.dumps(error),
    )
    payload = json.loads(await listener.next())
    assert payload["run_id"] == str(run_id)
    assert payload["status"] == "failed"
    assert payload["error_type"] == "invalid_params"
    assert len(payload["error_message"]) == 500
    assert "finished_at" in payload


async def test_success_payload_carries_headline_metrics(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    run_id = await insert_run(conn)
    await conn.execute(CLAIM, run_id)
    await listener.listen("run_completed")
    await conn.execute(
        """
        UPDATE runs SET status = 'succeeded', final_value = 12000, total_return = 0.2,
            max_drawdown = -0.1, sharpe_ratio = 1.5, win_rate = 1, total_trades = 1,
            winning_trades = 1, losing_trades = 0, metrics = '{}'::jsonb
        WHERE id = $1
        """,
        run_id,
    )
    payload = json.loads(await listener.next())
    assert payload["status"] == "succeeded"
    assert payload["total_return"] == 0.2 and payload["max_drawdown"] == -0.1
    assert payload["sharpe_ratio"] == 1.5 and payload["total_trades"] == 1


async def test_cancelling_a_pending_run_cancels_it_at_once(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    run_id = await insert_run(conn)
    await listener.listen("run_completed")
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", run_id)
    row = await conn.fetchrow("SELECT status, finished_at FROM runs WHERE id = $1", run_id)
    assert row["status"] == "cancelled" and row["finished_at"] is not None
    assert json.loads(await listener.next())["status"] == "cancelled"


async def test_cancelling_a_running_run_tells_its_worker(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    run_id = await insert_run(conn)
    await conn.execute(CLAIM, run_id)
    await listener.listen("run_cancel")
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", run_id)
    assert await listener.next() == str(run_id)
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id) == "running"


async def test_a_finished_run_stays_finished(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", run_id)
    with pytest.raises(asyncpg.CheckViolationError, match="a finished run cannot become"):
        await conn.execute("UPDATE runs SET status = 'pending' WHERE id = $1", run_id)


async def test_only_a_running_run_can_succeed(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    with pytest.raises(asyncpg.CheckViolationError, match="only a running run can succeed"):
        await conn.execute("UPDATE runs SET status = 'succeeded' WHERE id = $1", run_id)


async def test_heartbeat_does_not_fire_the_row_triggers(
    conn: asyncpg.Connection, listener: Listener
) -> None:
    run_id = await insert_run(conn)
    await conn.execute(CLAIM, run_id)
    await listener.listen("run_completed")
    await listener.connection.add_listener(
        "runs_pending", lambda *a: listener.payloads.put_nowait("p")
    )
    await conn.execute(
        "UPDATE runs SET lease_expires_at = now() + interval '30 seconds' WHERE id = $1", run_id
    )
    assert await listener.nothing_within(0.3)
