"""The claim loop: one statement claims up to the number of free slots.

The claim loop has a connection of its own, opened by `connect`, on which the planner does
not use bitmap scans: with stale statistics (a burst of inserts since the last ANALYZE, a
truncated table) it would otherwise read and sort every pending run on each claim, instead of
walking the pending-runs index in claim order and stopping after the batch. Its statements
are the queue's own (claim, and two small reads), so the setting touches nothing else.

It claims when woken (a `runs_pending` notification, a finished run, a reconnect) and at
least every POLL_INTERVAL_SECONDS, or sooner when a delayed (retried) run comes due.

A claim takes at most `max_claim` runs (the worker passes half its slots). When more slots
are free it claims again at once: the runs of the first claim start while the second is in
the database, so a worker whose runs are short overlaps claiming with running, instead of
alternating between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from worker.queue import queries
from worker.queue.errors import is_transient
from worker.queue.handler import RunJob
from worker.queue.looper import Loop
from worker.queue.retry import backoff_seconds


class Producer(Loop):
    """Claims runs and hands them to `start`; its task ends by itself when a burst worker
    has drained the queue."""

    name = "producer"

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        worker_id: str,
        *,
        lease_seconds: float,
        poll_interval: float,
        burst: bool,
        burst_horizon: float,
        free_slots: Callable[[], int],
        busy: Callable[[], bool],
        max_claim: int | None = None,
        start: Callable[[Sequence[RunJob]], None],
        on_claimed: Callable[[float, Sequence[RunJob]], None] | None = None,
        log: Any,
    ) -> None:
        super().__init__()
        self._connect = connect
        self._connection: asyncpg.Connection | None = None
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._poll_interval = poll_interval
        self._burst = burst
        self._burst_horizon = burst_horizon
        self._free_slots = free_slots
        self._max_claim = max_claim
        self._busy = busy
        self._start = start
        self._on_claimed = on_claimed
        self._log = log
        self._wake = asyncio.Event()
        self._stopping = False
        self.claims = 0

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        """Claim no more: the claim in flight finishes (its runs are started), then the loop
        ends."""
        self._stopping = True
        self._wake.set()

    def _request_stop(self, task: asyncio.Task[None]) -> None:
        self.request_stop()

    async def _db(self) -> asyncpg.Connection:
        """The claim connection, (re)opened when missing or lost."""
        connection = self._connection
        if connection is None or connection.is_closed():
            self._connection = None
            connection = self._connection = await self._connect()
        return connection

    async def _loop(self) -> None:
        """Claim until stopped (or, in burst mode, until the queue is drained)."""
        try:
            await self._claim_loop()
        finally:
            if self._connection is not None:
                self._connection.terminate()
                self._connection = None

    async def _claim_loop(self) -> None:
        failures = 0
        while not self._stopping:
            timeout = self._poll_interval
            free = self._free_slots()
            if self._max_claim is not None:
                free = min(free, self._max_claim)
            if free > 0:
                try:
                    db = await self._db()
                    began = time.perf_counter()
                    jobs = await queries.claim(db, self._worker_id, free, self._lease_seconds)
                    failures = 0
                    if self._on_claimed is not None:
                        self._on_claimed(time.perf_counter() - began, jobs)
                except Exception as error:
                    failures += 1
                    delay = backoff_seconds(failures, 0.1, self._poll_interval)
                    log = self._log.warning if is_transient(error) else self._log.error
                    log("claim_failed", error=repr(error), retry_in=round(delay, 3))
                    await self._sleep(delay)
                    continue
                self.claims += 1
                if jobs:
                    self._start(jobs)
                if len(jobs) == free:
                    continue  # there may be more: claim again once a slot frees up
                try:
                    if (
                        self._burst
                        and not self._busy()
                        and await queries.burst_idle(await self._db(), self._burst_horizon)
                    ):
                        self._log.info("burst_drained")
                        return
                    due = await queries.next_run_after(await self._db())
                except Exception as error:
                    self._log.warning("queue_check_failed", error=repr(error))
                    due = None
                if due is not None:
                    timeout = min(timeout, due + 0.005)
            await self._sleep(timeout)

    async def _sleep(self, seconds: float) -> None:
        """Until woken or `seconds` pass; the wake-up flag is cleared for the next claim."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()
