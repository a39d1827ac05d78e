"""The dashboard's firehose: the newest message per run between two reads, inserts as a
flag, and a re-read instead of an unbounded backlog."""

from __future__ import annotations

import asyncio
import json

from worker.api.hub import FIREHOSE_MAX_RUNS, Firehose, Message


def progress(run: int, pct: int) -> Message:
    return Message("progress", json.dumps({"run_id": f"r{run}", "pct": pct}))


async def test_newest_message_per_run_and_the_insert_flag() -> None:
    firehose = Firehose()
    firehose.push("r1", progress(1, 10))
    firehose.push("r1", progress(1, 60))
    firehose.push("r2", Message("completed", '{"run_id":"r2","status":"failed"}'))
    firehose.pending()
    batch = json.loads((await firehose.next()).json())
    assert batch["inserted"] is True and batch["resync"] is False
    assert [(c["kind"], c["data"]["run_id"]) for c in batch["runs"]] == [
        ("progress", "r1"),
        ("completed", "r2"),
    ]
    assert batch["runs"][0]["data"]["pct"] == 60
    waiting = asyncio.create_task(firehose.next())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing new: the reader waits
    firehose.push("r3", progress(3, 1))
    assert [m.data for m in (await waiting).messages] == [progress(3, 1).data]


async def test_too_many_runs_between_reads_becomes_one_re_read() -> None:
    firehose = Firehose()
    for run in range(FIREHOSE_MAX_RUNS + 5):
        firehose.push(f"r{run}", progress(run, 1))
    batch = await firehose.next()
    assert batch.resync and batch.messages == ()
    firehose.resync()  # the hub reconnected: the same
    assert (await firehose.next()).resync
