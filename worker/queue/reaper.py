"""The reaper: runs whose lease expired (worker died or hung) go back to pending, or end
`failed` (`attempts_exhausted`) once their attempts reach max_attempts. Any live worker
reaps; the statement skips rows another session holds, so reapers never block each other.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from worker.queue import queries


async def reap_once(pool: asyncpg.Pool, log: Any) -> int:
    reaped = await queries.reap(pool)
    for run in reaped:
        log.warning(
            "run_lease_expired",
            run_id=str(run.id),
            attempt=run.attempts,
            max_attempts=run.max_attempts,
            lost_worker_id=run.lost_by,
            status=run.status,
        )
    return len(reaped)


async def reaper_loop(pool: asyncpg.Pool, *, interval: float, log: Any) -> None:
    while True:
        try:
            await reap_once(pool, log)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("reap_failed", error=repr(error))
        await asyncio.sleep(interval)
