"""The heartbeat: one statement extends the lease of every run this process holds.

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
        log: Any,
    ) -> None:
        super().__init__(interval=interval, log=log)
        self._pool = pool
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._held = held
        self._on_result = on_result

    async def tick(self) -> None:
        runs = list(self._held())
        if runs:
            alive = await queries.heartbeat(self._pool, self._worker_id, runs, self._lease_seconds)
            self._on_result(runs, alive)
