"""The heartbeat: one statement extends the lease of every run this process holds and
advances the process's `workers` row (so idle workers beat too, and a beat costs no more
round trips than before).

Its answer also says which runs were cancelled (a backstop for a missed `run_cancel`
notification) and which runs are no longer ours (lease expired and reaped).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from worker.queue import queries
from worker.queue.looper import Periodic

Held = Sequence[tuple[uuid.UUID, int]]


class Heartbeat(Periodic):
    name = "heartbeat"

    def __init__(
        self,
        pool: asyncpg.Pool,
        worker_id: str,
        *,
        interval: float,
        lease_seconds: float,
        held: Callable[[], Held],
        on_result: Callable[[Held, dict[uuid.UUID, bool]], None],
        beat: Callable[[], queries.WorkerBeat] | None = None,
        log: Any,
    ) -> None:
        super().__init__(interval=interval, log=log)
        self._pool = pool
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._held = held
        self._on_result = on_result
        self._beat = beat

    async def tick(self) -> None:
        runs = list(self._held())
        if runs or self._beat is not None:
            beat = None if self._beat is None else self._beat()
            alive = await queries.heartbeat(
                self._pool, self._worker_id, runs, self._lease_seconds, beat
            )
            if runs:
                self._on_result(runs, alive)
