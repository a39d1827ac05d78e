"""The reaper: runs whose lease expired (worker died or hung) go back to pending, or end
`failed` (`attempts_exhausted`) once their attempts reach max_attempts. Any live worker
reaps; the statement skips rows another session holds, so reapers never block each other.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from worker.queue import queries
from worker.queue.looper import Periodic


class Reaper(Periodic):
    name = "reaper"

    def __init__(self, pool: asyncpg.Pool, *, interval: float, log: Any) -> None:
        super().__init__(interval=interval, log=log)
        self._pool = pool

    async def tick(self) -> None:
        for run in await queries.reap(self._pool):
            self._log.warning(
                "run_lease_expired",
                run_id=str(run.id),
                attempt=run.attempts,
                max_attempts=run.max_attempts,
                lost_worker_id=run.lost_by,
                status=run.status,
            )
