"""Validating a handler's outcome, and writing completions in batches.

Many runs finishing together are marked succeeded by one statement (unnest of arrays, still
fenced per row on locked_by and attempts): under load the commit rate, not the SQL, is the
limit, so one commit for many runs is how the queue keeps up. Runs with a `finalize` step
get their own transaction, with `finalize` after the fence.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import asyncpg
import structlog

from worker import jsonsafe
from worker.queue import queries
from worker.queue.errors import is_transient
from worker.queue.handler import PermanentRunError, RunJob, RunOutcome
from worker.queue.retry import backoff_seconds

log = structlog.get_logger("worker.queue.completion")

MAX_BATCH = 500
# Batches written at once (each on its own pool connection). While one batch's statement
# runs, the runs finishing meanwhile are written by the next flusher instead of waiting for
# it: the completion, not the claim, is the longer statement, and it would otherwise be the
# limit on a worker's rate. Batches in flight hold disjoint runs, and every statement that
# updates several running rows locks them in id order, so they cannot deadlock.
FLUSHES_IN_FLIGHT = 2
# NUMERIC(18,4) holds |x| < 1e14; NUMERIC(10,4) holds |x| < 1e6.
_MONEY_LIMIT = 1e14
_RATIO_LIMIT = 1e6
_REQUIRED = ("final_value", "total_return", "max_drawdown")
_COUNTS = ("total_trades", "winning_trades", "losing_trades")


# Told a completion's fate: True (written), False (fenced off), or the error that stopped it.
Done = Callable[[bool | BaseException], None]


class LeaseLost(Exception):
    """The fenced write matched no row: another worker owns the run now (or it ended)."""


def _number(name: str, value: Any, limit: float, column: str) -> str | None:
    """The metric as numeric text for Postgres; None (NULL) for NaN/Infinity.

    A value that still overflows once Postgres rounds it to 4 places raises 22003 there,
    which is classified as the same permanent `value_out_of_range` error.
    """
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise PermanentRunError(
            "invalid_metrics", f"metric {name!r} is not a number: {value!r}", {"metric": name}
        ) from None
    if not math.isfinite(number):
        return None
    if abs(number) >= limit:
        raise PermanentRunError(
            "value_out_of_range",
            f"metric {name} = {number:g} does not fit the runs.{name} column ({column}, "
            f"|value| < {limit:.0e}); check the run's capital and parameters",
            {"metric": name, "value": str(value), "column": column},
        )
    return str(value) if isinstance(value, Decimal) else repr(number)


def _count(name: str, value: Any) -> int:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        raise PermanentRunError(
            "invalid_metrics", f"the engine returned no {name}", {"metric": name}
        )
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise PermanentRunError(
            "invalid_metrics", f"metric {name!r} is not an integer: {value!r}", {"metric": name}
        ) from None
    if not 0 <= number < 2**31:
        raise PermanentRunError(
            "value_out_of_range",
            f"metric {name} = {number} does not fit an INTEGER column",
            {"metric": name, "value": number},
        )
    return number


def prepare(job: RunJob, outcome: RunOutcome) -> queries.Completion:
    """Check a handler's outcome against the columns; PermanentRunError when it cannot fit."""
    if not isinstance(outcome, RunOutcome):
        raise TypeError(f"the handler returned {type(outcome).__name__}, not RunOutcome")
    metrics = outcome.metrics
    money = _number("final_value", metrics.get("final_value"), _MONEY_LIMIT, "NUMERIC(18,4)")
    ratios = {
        name: _number(name, metrics.get(name), _RATIO_LIMIT, "NUMERIC(10,4)")
        for name in ("total_return", "sharpe_ratio", "max_drawdown", "win_rate")
    }
    values: dict[str, Any] = {"final_value": money, **ratios}
    for name in _REQUIRED:
        if values[name] is None:
            raise PermanentRunError(
                "invalid_metrics",
                f"the engine returned no finite {name} (got {metrics.get(name)!r})",
                {"metric": name},
            )
    counts = {name: _count(name, metrics.get(name)) for name in _COUNTS}
    return queries.Completion(
        id=job.id,
        attempt=job.attempt,
        final_value=values["final_value"],
        total_return=values["total_return"],
        sharpe_ratio=values["sharpe_ratio"],
        max_drawdown=values["max_drawdown"],
        win_rate=values["win_rate"],
        total_trades=counts["total_trades"],
        winning_trades=counts["winning_trades"],
        losing_trades=counts["losing_trades"],
        metrics_json=jsonsafe.dumps(metrics),
        metadata_json=jsonsafe.dumps(outcome.metadata or {}),
    )


async def complete_with_finalize(
    pool: asyncpg.Pool, worker_id: str, item: queries.Completion, outcome: RunOutcome
) -> None:
    """One run's completion and its `finalize` writes, in one fenced transaction."""
    assert outcome.finalize is not None
    async with pool.acquire() as connection, connection.transaction():
        written = await queries.complete(connection, worker_id, [item])
        if item.id not in written:
            raise LeaseLost(str(item.id))
        await outcome.finalize(cast(asyncpg.Connection, connection))


class Completer:
    """Collects completions and writes them many per statement.

    `submit` returns once the run's completion is committed (True) or found fenced off
    (False); `submit_nowait` calls `done` with that (or the error) instead, without a future
    and a task wake-up per run. A flush starts as soon as one is waiting and a flusher is
    free (up to `flushes` in flight), so a lone run pays no delay and a burst of runs
    shares one commit.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        worker_id: str,
        *,
        retry_for_seconds: float,
        flushes: int = FLUSHES_IN_FLIGHT,
    ) -> None:
        self._pool = pool
        self._worker_id = worker_id
        self._retry_for = retry_for_seconds
        self._flushes = max(1, flushes)
        self._waiting: list[tuple[queries.Completion, Done]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name=f"completer-{n}") for n in range(self._flushes)
        ]

    async def submit(self, item: queries.Completion) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(result: bool | BaseException) -> None:
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        self.submit_nowait(item, done)
        return await future

    def submit_nowait(self, item: queries.Completion, done: Done) -> None:
        self._waiting.append((item, done))
        self._wake.set()

    async def close(self) -> None:
        """Write everything submitted so far, then stop."""
        self._closing = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def _loop(self) -> None:
        """One of the flushers: takes what is waiting, writes it, and again until closed."""
        while True:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._flush(batch)
            if self._closing:
                return
            # Nothing waits now (no await since the check): sleep until the next submit.
            self._wake.clear()
            await self._wake.wait()

    async def _flush(self, batch: list[tuple[queries.Completion, Done]]) -> None:
        try:
            written = await self._write([item for item, _ in batch])
        except Exception as error:
            if len(batch) > 1 and not is_transient(error):
                # One bad row must not sink the others: write them one by one.
                for single in batch:
                    await self._flush([single])
                return
            for _, done in batch:
                _tell(done, error)
            return
        for item, done in batch:
            _tell(done, item.id in written)

    async def _write(self, items: list[queries.Completion]) -> set[uuid.UUID]:
        """The batch statement, retried with backoff on connection trouble for a while."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._retry_for
        attempt = 0
        while True:
            attempt += 1
            try:
                return await queries.complete(self._pool, self._worker_id, items)
            except Exception as error:
                if not is_transient(error) or loop.time() >= give_up_at:
                    raise
                delay = backoff_seconds(attempt, 0.05, 2.0)
                log.warning(
                    "completion_write_retry", runs=len(items), error=repr(error), delay=delay
                )
                await asyncio.sleep(delay)


def _tell(done: Done, result: bool | BaseException) -> None:
    try:
        done(result)
    except Exception:  # a bug in one callback must not stop the others, nor the loop
        log.exception("completion_callback_failed")
