"""events.run_id keeps the foreign key's rules with one check per statement (migration 0017):
an event names an existing run, deleting runs deletes their events, and a run being deleted
and an event being written wait for each other as the foreign key's locks made them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.db.rows import insert_dataset, insert_run, insert_strategy

CONSTRAINT = "fk_events_run_id_runs"


async def _events(conn: asyncpg.Connection, run_id: uuid.UUID | None = None) -> int:
    if run_id is None:
        return int(await conn.fetchval("SELECT count(*) FROM events"))
    return int(await conn.fetchval("SELECT count(*) FROM events WHERE run_id = $1", run_id))


async def _add_event(conn: asyncpg.Connection, run_id: uuid.UUID) -> None:
    await conn.execute("INSERT INTO events (run_id, event_type) VALUES ($1, 'note')", run_id)


async def _waits_for_a_lock(conn: asyncpg.Connection, pid: int) -> bool:
    """Whether backend `pid` is blocked on a lock, polled until it is (or 10 s pass)."""
    for _ in range(200):
        waiting = await conn.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_an_event_of_a_missing_run_is_refused_as_the_foreign_key_did(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
        await _add_event(conn, uuid.uuid4())
    assert caught.value.constraint_name == CONSTRAINT
    assert "is not present in table" in (caught.value.detail or "")


async def test_one_missing_run_refuses_the_whole_copy(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    rows = [(run_id, "trade_entry"), (uuid.uuid4(), "trade_exit"), (run_id, "trade_exit")]
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.copy_records_to_table("events", records=rows, columns=["run_id", "event_type"])
    assert await _events(conn) == 0
    await conn.copy_records_to_table("events", records=rows[::2], columns=["run_id", "event_type"])
    assert await _events(conn, run_id) == 2


async def test_moving_an_event_to_a_missing_run_is_refused(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    await _add_event(conn, run_id)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("UPDATE events SET run_id = $1", uuid.uuid4())
    await conn.execute("UPDATE events SET event_type = 'renamed'")
    assert await _events(conn, run_id) == 1


async def test_deleting_runs_deletes_only_their_events(conn: asyncpg.Connection) -> None:
    dataset_id, strategy_id = await insert_dataset(conn), await insert_strategy(conn)
    runs = [await insert_run(conn, dataset_id, strategy_id) for _ in range(3)]
    for run_id in runs:
        for _ in range(4):
            await _add_event(conn, run_id)
    await conn.execute("DELETE FROM runs WHERE id = ANY($1::uuid[])", runs[:2])
    assert await _events(conn) == 4
    assert await _events(conn, runs[2]) == 4


async def test_a_delete_cascaded_from_a_sweep_parent_deletes_the_childrens_events(
    conn: asyncpg.Connection,
) -> None:
    dataset_id, strategy_id = await insert_dataset(conn), await insert_strategy(conn)
    parent = await insert_run(conn, dataset_id, strategy_id)
    child = await conn.fetchval(
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital, parent_id)"
        " VALUES ($1, $2, 10000, $3) RETURNING id",
        dataset_id,
        strategy_id,
        parent,
    )
    await _add_event(conn, parent)
    await _add_event(conn, child)
    await conn.execute("DELETE FROM runs WHERE id = $1", parent)
    assert await conn.fetchval("SELECT count(*) FROM runs") == 0
    assert await _events(conn) == 0


async def test_truncating_runs_truncates_events(conn: asyncpg.Connection) -> None:
    await _add_event(conn, await insert_run(conn))
    await conn.execute("TRUNCATE run_queue, runs CASCADE")
    assert await _events(conn) == 0


async def test_a_run_named_by_events_keeps_its_id(conn: asyncpg.Connection) -> None:
    run_id = await insert_run(conn)
    await _add_event(conn, run_id)
    with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
        await conn.execute("UPDATE runs SET id = $1 WHERE id = $2", uuid.uuid4(), run_id)
    assert caught.value.constraint_name == CONSTRAINT


@pytest.fixture
async def writer_and_deleter(
    database_url: str,
) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
    """Two more sessions: one writing events, one deleting runs."""
    writer = await asyncpg.connect(database_url)
    deleter = await asyncpg.connect(database_url)
    yield writer, deleter
    await writer.close()
    await deleter.close()


async def test_a_delete_waits_for_the_events_being_written_then_takes_them(
    conn: asyncpg.Connection, writer_and_deleter: tuple[asyncpg.Connection, asyncpg.Connection]
) -> None:
    writer, deleter = writer_and_deleter
    run_id = await insert_run(conn)
    writing = writer.transaction()
    await writing.start()
    await _add_event(writer, run_id)
    delete = asyncio.create_task(deleter.execute("DELETE FROM runs WHERE id = $1", run_id))
    assert await _waits_for_a_lock(conn, deleter.get_server_pid())
    await writing.commit()
    assert await delete == "DELETE 1"
    assert await _events(conn) == 0


async def test_an_event_waits_for_its_run_being_deleted_then_is_refused(
    conn: asyncpg.Connection, writer_and_deleter: tuple[asyncpg.Connection, asyncpg.Connection]
) -> None:
    writer, deleter = writer_and_deleter
    run_id = await insert_run(conn)
    deleting = deleter.transaction()
    await deleting.start()
    await deleter.execute("DELETE FROM runs WHERE id = $1", run_id)
    insert = asyncio.create_task(_add_event(writer, run_id))
    assert await _waits_for_a_lock(conn, writer.get_server_pid())
    await deleting.commit()
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await insert
    assert await _events(conn) == 0


async def test_a_role_that_may_delete_runs_needs_no_right_on_events(
    database_url: str, conn: asyncpg.Connection
) -> None:
    """The cascade runs with the owner's rights, as a foreign key's did."""
    run_id = await insert_run(conn)
    await _add_event(conn, run_id)
    role = f"runs_deleter_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        await conn.execute(f"GRANT SELECT, DELETE ON runs TO {role}")
        deleter = await asyncpg.connect(database_url, user=role)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await deleter.execute("DELETE FROM events")
            assert await deleter.execute("DELETE FROM runs WHERE id = $1", run_id) == "DELETE 1"
        finally:
            await deleter.close()
        assert await _events(conn) == 0
    finally:
        await conn.execute(f"REVOKE ALL ON runs FROM {role}")
        await conn.execute(f"DROP ROLE {role}")
