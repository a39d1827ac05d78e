"""The completer: the one writer of every run's final state, many runs per transaction.

Like River's `JobCompleter`, it is the only path by which a run ends: the run task submits
the run's final state (a value from `outcome.decide`) and is told what became of it. A
flush takes what is waiting, groups it by state and writes it in one transaction, one
statement per state, each fenced per row on (locked_by, attempts); a success's artifact rows,
events and sweep chunk are written in the same transaction, for the runs whose fence held.
Under load the commit rate, not the SQL, is the limit, so one commit for many runs is how the
queue keeps up; a lone run pays no wait, since a flush starts as soon as a flusher is free.

Failures of the write itself: a transient error (connection lost, server restarting) is
retried with backoff for up to `retry_for_seconds` (one lease: after that the reaper owns
the run), and at shutdown for no longer than the worker says (`retry_until`). A retry the
fence refuses re-reads the rows: a commit whose acknowledgement was lost is reported as
written (`ACK_LOST`), not as a lost lease. A batch refused for good is written one run at a
time, so one bad row does not sink the others; a run refused for good becomes what
`outcome.after_write_error` says (a success too large for its columns is failed). A finished
backtest is never run again because its write failed.

A success may come with pending files (`Succeed.pending`, stored on a side thread while its
handler returned): its transaction writes the status and the events, then waits for them
(`asyncio.wrap_future`) for at most one lease and never past the shutdown's deadline, and
inserts their rows last, recording the wait as `timings.store_wait`. A file that failed rolls
the transaction back and the run ends as `outcome.after_file_error` says; a retried write
finds the files already stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import structlog

from worker.queue import queries
from worker.queue.errors import is_transient
from worker.queue.handler import ArtifactRecord, RunJob
from worker.queue.looper import Loop
from worker.queue.outcome import (
    Abandon,
    Cancel,
    Fail,
    Final,
    HandBack,
    Park,
    Retry,
    RetryPolicy,
    Succeed,
    after_file_error,
    after_write_error,
)
from worker.queue.retry import backoff_seconds

log = structlog.get_logger("worker.queue.completer")

MAX_BATCH = 500
# Batches written at once (each on its own pool connection). While one batch's transaction
# runs, the runs finishing meanwhile are written by the next flusher instead of waiting for
# it. Batches in flight hold disjoint runs, and every statement that updates several
# running rows locks them in id order, so they cannot deadlock.
FLUSHES_IN_FLIGHT = 2


@dataclasses.dataclass(frozen=True)
class AckLost:
    """Written, though the commit's acknowledgement was lost: a retry found it done."""


ACK_LOST = AckLost()

# What became of a final state: True written (or ACK_LOST), False fenced off (the run is no
# longer ours, or there was nothing to write), or the error that made the completer give up.
Written = bool | AckLost | BaseException
Done = Callable[[Final, Written], None]
# Without the worker's settings (tests): what a run whose pending file failed is retried by.
DEFAULT_POLICY = RetryPolicy(base_seconds=1.0, max_seconds=60.0)


class FilesFailed(Exception):
    """A success's pending file failed (or was not stored within a lease): the transaction
    is rolled back and the run's final state decided again."""

    def __init__(self, item: _Item, error: BaseException) -> None:
        super().__init__(f"a pending file of run {item.job.id} failed: {error!r}")
        self.item = item
        self.error = error


@dataclasses.dataclass(frozen=True)
class _Item:
    job: RunJob
    final: Final
    done: Done


class Completer(Loop):
    name = "completer"

    def __init__(
        self,
        pool: asyncpg.Pool,
        worker_id: str,
        *,
        retry_for_seconds: float,
        log: Any,
        flushes: int = FLUSHES_IN_FLIGHT,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        super().__init__()
        self._pool = pool
        self._worker_id = worker_id
        self._retry_for = retry_for_seconds
        self._log = log
        self._policy = policy
        self._flushes = max(1, flushes)
        self._waiting: list[_Item] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._deadline = math.inf

    def submit(self, job: RunJob, final: Final, done: Done) -> None:
        """Write `final` for `job`; `done(final, written)` is called once it is settled
        (with the state actually written, if the database made it another)."""
        if isinstance(final, Abandon):
            _tell(done, final, False)
            return
        self._waiting.append(_Item(job, final, done))
        self._wake.set()

    async def write(self, job: RunJob, final: Final) -> Written:
        """`submit`, awaited."""
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self.submit(job, final, lambda _final, written: future.set_result(written))
        return await future

    def _request_stop(self, task: asyncio.Task[None]) -> None:
        """Write everything submitted so far, then end."""
        self._closing = True
        self._wake.set()

    async def _loop(self) -> None:
        await asyncio.gather(*(self._flusher() for _ in range(self._flushes)))

    async def _flusher(self) -> None:
        while True:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._flush(batch)
            if self._closing:
                return
            # Nothing waits now (no await since the check): sleep until the next submit.
            self._wake.clear()
            await self._wake.wait()

    async def _flush(self, batch: list[_Item]) -> None:
        try:
            written, confirmed = await self._write_retrying(batch)
        except FilesFailed as failed:
            instead = after_file_error(failed.item.job, failed.error, self._policy)
            self._log.warning(
                "run_file_failed", run_id=str(failed.item.job.id), error=repr(failed.error)
            )
            await self._flush(
                [dataclasses.replace(i, final=instead) if i is failed.item else i for i in batch]
            )
            return
        except Exception as error:
            if is_transient(error):
                self._log.error("run_write_failed", runs=len(batch), error=repr(error))
                for item in batch:
                    _tell(item.done, item.final, error)
            elif len(batch) > 1:
                for item in batch:
                    await self._flush([item])
            else:
                await self._refused(batch[0], error)
            return
        for item in batch:
            landed = ACK_LOST if item.job.id in confirmed else item.job.id in written
            _tell(item.done, item.final, landed)

    async def _refused(self, item: _Item, error: BaseException) -> None:
        """The database refused this run's final state for good."""
        instead = after_write_error(item.final, error)
        if instead is None:
            self._log.error("run_write_failed", run_id=str(item.job.id), error=repr(error))
            _tell(item.done, item.final, error)
            return
        await self._flush([dataclasses.replace(item, final=instead)])

    def retry_until(self, seconds: float) -> None:
        """Shutdown: give up retrying any write (those waiting included) `seconds` from now,
        so that the process exits in time; the lease covers what is not written by then."""
        self._deadline = min(self._deadline, asyncio.get_running_loop().time() + seconds)

    async def _write_retrying(
        self, batch: Sequence[_Item]
    ) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
        """The ids written, and those found already written by an earlier try whose commit
        was not acknowledged (the connection was lost after COMMIT)."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._retry_for
        attempt = 0
        while True:
            attempt += 1
            try:
                written = await self._write(batch)
                if attempt == 1 or len(written) == len(batch):
                    return written, set()
                return written, await self._confirm(
                    [item for item in batch if item.job.id not in written]
                )
            except Exception as error:
                left = min(give_up_at, self._deadline) - loop.time()
                if not is_transient(error) or left <= 0:
                    raise
                delay = min(backoff_seconds(attempt, 0.05, 2.0), left)
                self._log.warning(
                    "completion_write_retry", runs=len(batch), error=repr(error), delay=delay
                )
                await asyncio.sleep(delay)

    async def _confirm(self, fenced: Sequence[_Item]) -> set[uuid.UUID]:
        """Of runs a retried write was fenced off from, those already in the final state
        this attempt meant (so the earlier try committed). Pending is never taken as proof:
        the reaper also makes a run pending."""
        async with self._pool.acquire() as connection:
            states = await queries.final_states(connection, [i.job.id for i in fenced])
        return {item.job.id for item in fenced if states.get(item.job.id) == _confirmed_state(item)}

    async def _write(self, batch: Sequence[_Item]) -> set[uuid.UUID]:
        """One transaction (none when one statement does it all); the ids written."""
        async with self._pool.acquire() as connection:
            if _statements(batch) == 1:
                return await self._write_states(connection, batch)
            async with connection.transaction():
                return await self._write_states(connection, batch)

    async def _write_states(self, db: Any, batch: Sequence[_Item]) -> set[uuid.UUID]:
        worker = self._worker_id
        written: set[uuid.UUID] = set()
        succeeded = [(i.job, i.final) for i in batch if isinstance(i.final, Succeed)]
        if succeeded:
            ids = await queries.complete(
                db, worker, [(j.id, j.attempt, f.row) for j, f in succeeded]
            )
            written |= ids
            landed = [i for i in batch if isinstance(i.final, Succeed) and i.job.id in ids]
            events = b"".join(i.final.events_csv for i in landed if isinstance(i.final, Succeed))
            if events:
                await queries.copy_events_csv(db, events)
            chunks = [
                (i.job.id, i.final.chunk)
                for i in landed
                if isinstance(i.final, Succeed) and i.final.chunk is not None
            ]
            if chunks:
                await queries.insert_chunks(db, chunks)
            waits: list[tuple[uuid.UUID, float]] = []
            artifacts: list[tuple[uuid.UUID, ArtifactRecord]] = []
            files_by = min(asyncio.get_running_loop().time() + self._retry_for, self._deadline)
            for item in landed:
                assert isinstance(item.final, Succeed)
                stored = item.final.artifacts
                if item.final.pending:
                    started = time.perf_counter()
                    stored += await self._stored(item, files_by)
                    waits.append((item.job.id, time.perf_counter() - started))
                artifacts += [(item.job.id, a) for a in stored]
            if artifacts:
                await queries.insert_artifacts(db, artifacts)
            if waits:
                await queries.record_store_wait(db, waits)
        failed = [(i.job, i.final) for i in batch if isinstance(i.final, Fail)]
        if failed:
            written |= await queries.fail(
                db, worker, [(j.id, j.attempt, f.error) for j, f in failed]
            )
        retried = [(i.job, i.final) for i in batch if isinstance(i.final, Retry)]
        if retried:
            written |= await queries.retry(
                db, worker, [(j.id, j.attempt, f.error, f.delay_seconds) for j, f in retried]
            )
        cancelled = [(i.job.id, i.job.attempt) for i in batch if isinstance(i.final, Cancel)]
        if cancelled:
            written |= await queries.cancel(db, worker, cancelled)
        handed = [(i.job.id, i.job.attempt) for i in batch if isinstance(i.final, HandBack)]
        if handed:
            written |= await queries.hand_back(db, worker, handed)
        parked = [(i.job.id, i.job.attempt, i.final) for i in batch if isinstance(i.final, Park)]
        if parked:
            written |= await queries.fan_out(
                db, worker, [(run_id, attempt, final.children) for run_id, attempt, final in parked]
            )
        return written

    async def _stored(self, item: _Item, by: float) -> tuple[ArtifactRecord, ...]:
        """A success's pending files, once stored, waited for until `by` (loop time: one
        lease from the start of the batch's waits, or the shutdown's deadline if sooner)."""
        assert isinstance(item.final, Succeed)
        try:
            async with asyncio.timeout_at(by):
                return tuple(await asyncio.gather(*map(asyncio.wrap_future, item.final.pending)))
        except TimeoutError:
            error: BaseException = TimeoutError(
                f"the run's files were not stored within {self._retry_for:g} s (one lease)"
                if by < self._deadline
                else "the run's files were not stored before the worker's shutdown deadline"
            )
        except Exception as failure:
            error = failure
        raise FilesFailed(item, error)


def _confirmed_state(item: _Item) -> tuple[str, int] | None:
    """The (status, attempts) a committed write of `item` leaves (a park gives the attempt
    back); None when that state is no proof (pending: the reaper also makes a run pending)."""
    if isinstance(item.final, Park):
        return ("waiting", item.job.attempt - 1)
    if item.final.status in ("succeeded", "failed", "cancelled"):
        return (item.final.status, item.job.attempt)
    return None


def _statements(batch: Sequence[_Item]) -> int:
    """How many statements writing `batch` takes (more than one needs a transaction)."""
    states = {type(item.final) for item in batch}
    extra = any(
        isinstance(f := item.final, Succeed)
        and (f.artifacts or f.events_csv or f.chunk or f.pending)
        for item in batch
    )
    return len(states) + (2 if extra else 0)


def _tell(done: Done, final: Final, written: Written) -> None:
    try:
        done(final, written)
    except Exception:  # a bug in one callback must not stop the others, nor the loop
        log.exception("completion_callback_failed")
