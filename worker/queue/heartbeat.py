"""The heartbeat: one statement extends the lease of every run this process holds.

Its answer also says which runs were cancelled (a backstop for a missed `run_cancel`
notification) and which runs are no longer ours (lease expired and reaped).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from worker.queue import queries

Held = Sequence[tuple[uuid.UUID, int]]


async def heartbeat_loop(
    pool: asyncpg.Pool,
    worker_id: str,
    *,
    interval: float,
    lease_seconds: float,
    held: Callable[[], Held],
    on_result: Callable[[Held, dict[uuid.UUID, bool]], None],
    log: Any,
) -> None:
    while True:
        await asyncio.sleep(interval)
        runs = list(held())
        if not runs:
            continue
        try:
            alive = await queries.heartbeat(pool, worker_id, runs, lease_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("heartbeat_failed", runs=len(runs), error=repr(error))
            continue
        on_result(runs, alive)
