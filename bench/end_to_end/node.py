"""The "Node side": runs inserted with plain SQL as Node.js does, run_completed LISTENed for.

Both times (INSERT commit acknowledged, notification received) come from the same clock in the
same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from bench.end_to_end.workers import Workers

INSERT_RUN = (
    "INSERT INTO runs (dataset_id, strategy_id, initial_capital, config)"
    " VALUES ($1, $2, 10000, $3::jsonb) RETURNING id"
)


def insert_many(count: int) -> str:
    """Node's batch enqueue: one INSERT … VALUES (…), (…), … RETURNING id."""
    values = ", ".join(["($1, $2, 10000, $3::jsonb)"] * count)  # constants only
    return INSERT_RUN.replace("VALUES ($1, $2, 10000, $3::jsonb)", f"VALUES {values}")


@dataclass
class Notified:
    perf: float
    wall: float
    status: str
    error_type: str | None


@dataclass
class RunSample:
    run_id: str
    commit_perf: float
    commit_wall: float
    notify_perf: float = math.nan
    notify_wall: float = math.nan
    status: str = "?"
    error_type: str | None = None

    @property
    def latency(self) -> float:
        return self.notify_perf - self.commit_perf


class NodeSide:
    """One connection inserts runs as Node does, one LISTENs on run_completed (same process)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.notified: dict[str, Notified] = {}
        self._changed = asyncio.Event()
        self.insert: asyncpg.Connection | None = None
        self.listen: asyncpg.Connection | None = None

    async def open(self) -> None:
        settings = {"application_name": "bench-e2e/node"}
        self.insert = await asyncpg.connect(self.url, server_settings=settings)
        self.listen = await asyncpg.connect(self.url, server_settings=settings)
        await self.listen.add_listener("run_completed", self._on_completed)

    async def close(self) -> None:
        for connection in (self.insert, self.listen):
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)

    def _on_completed(self, _c: object, _pid: int, _channel: str, payload: object) -> None:
        perf, wall = time.perf_counter(), time.time()
        data = json.loads(str(payload))
        self.notified[data["run_id"]] = Notified(
            perf, wall, data.get("status", "?"), data.get("error_type")
        )
        self._changed.set()

    @property
    def pids(self) -> set[int]:
        """The server processes of the bench's own two connections."""
        return {c.get_server_pid() for c in (self.insert, self.listen) if c is not None}

    @property
    def conn(self) -> asyncpg.Connection:
        assert self.insert is not None
        return self.insert

    async def insert_one(
        self, dataset: uuid.UUID, strategy: uuid.UUID, config: dict[str, Any]
    ) -> tuple[str, float, float]:
        """One autocommit INSERT; returns (run id, commit perf time, commit wall time)."""
        run_id = await self.conn.fetchval(INSERT_RUN, dataset, strategy, json.dumps(config))
        return str(run_id), time.perf_counter(), time.time()

    async def insert_burst(
        self,
        dataset: uuid.UUID,
        strategy: uuid.UUID,
        config: dict[str, Any],
        count: int,
        mode: str,
    ) -> tuple[list[tuple[str, float, float]], float]:
        """`count` runs: one multi-row INSERT (`statement`), single-row INSERTs in one
        transaction (`transaction`) or each committed on its own (`autocommit`).

        Returns [(run id, commit perf, commit wall)] and the perf time of the first INSERT."""
        body = json.dumps(config)
        first = time.perf_counter()
        if mode == "statement":
            rows = await self.conn.fetch(insert_many(count), dataset, strategy, body)
            perf, wall = time.perf_counter(), time.time()
            return [(str(row["id"]), perf, wall) for row in rows], first
        if mode == "autocommit":
            rows = [await self.insert_one(dataset, strategy, config) for _ in range(count)]
            return rows, first
        ids = []
        async with self.conn.transaction():
            for _ in range(count):
                ids.append(str(await self.conn.fetchval(INSERT_RUN, dataset, strategy, body)))
        perf, wall = time.perf_counter(), time.time()
        return [(run_id, perf, wall) for run_id in ids], first

    async def wait_all(self, ids: Iterable[str], within: float, workers: Workers) -> None:
        remaining = {i for i in ids if i not in self.notified}
        give_up = time.perf_counter() + within
        while remaining:
            left = give_up - time.perf_counter()
            if left <= 0:
                await self._explain_timeout(remaining)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 2.0))
            remaining = {i for i in remaining if i not in self.notified}
            if remaining:
                workers.check_alive()

    async def _explain_timeout(self, remaining: set[str]) -> None:
        rows = await self.conn.fetch(
            "SELECT status::text AS status, count(*) AS n FROM runs WHERE id = ANY($1::uuid[])"
            " GROUP BY 1",
            list(remaining),
        )
        states = ", ".join(f"{r['n']} {r['status']}" for r in rows)
        raise TimeoutError(f"{len(remaining)} run(s) without run_completed in time ({states})")

    def fill(self, samples: Sequence[RunSample]) -> None:
        """Completes each sample with its run_completed notification."""
        for sample in samples:
            seen = self.notified[sample.run_id]
            sample.notify_perf, sample.notify_wall = seen.perf, seen.wall
            sample.status, sample.error_type = seen.status, seen.error_type


async def clock_offset(conn: asyncpg.Connection) -> tuple[float, float]:
    """(server clock − client clock, ± half the round trip), best of 20 probes."""
    best: tuple[float, float] | None = None
    for _ in range(20):
        before = time.time()
        server = (await conn.fetchval("SELECT clock_timestamp()")).timestamp()
        after = time.time()
        probe = (server - (before + after) / 2, (after - before) / 2)
        if best is None or probe[1] < best[1]:
            best = probe
    assert best is not None
    return best
