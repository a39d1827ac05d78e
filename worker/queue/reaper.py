"""The reaper: runs whose lease expired (worker died or hung) go back to pending, or end
`failed` (`attempts_exhausted`) once their attempts reach max_attempts. Any live worker
reaps; the statement skips rows another session holds, so reapers never block each other.
It also deletes `workers` rows silent for `worker_expiry` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from worker.queue import fleet, queries
from worker.queue.looper import Periodic


class Reaper(Periodic):
    name = "reaper"

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        interval: float,
        log: Any,
        worker_expiry: float | None = None,
        on_reaped: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(interval=interval, log=log)
        self._pool = pool
        self._worker_expiry = worker_expiry
        self._on_reaped = on_reaped

    async def tick(self) -> None:
        if self._worker_expiry is not None:
            await fleet.expire_workers(self._pool, self._worker_expiry)
        for run in await queries.reap(self._pool):
            if self._on_reaped is not None:
                self._on_reaped(run.status)
            self._log.warning(
                "run_lease_expired",
                run_id=str(run.id),
                attempt=run.attempts,
                max_attempts=run.max_attempts,
                lost_worker_id=run.lost_by,
                status=run.status,
            )
