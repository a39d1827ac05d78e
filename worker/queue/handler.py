"""The interface between the queue and the code that executes a run.

A handler is `async def handler(job: RunJob, ctx: RunContext) -> RunOutcome`. The queue
claims the run, calls the handler, turns what it returned or raised into the run's final
state (`worker.queue.outcome.decide`) and writes that, fenced on the run's lease
(`worker.queue.completer`). The handler:

* does CPU-bound work through `ctx.run_cpu(fn, *args)` (off the event loop), so that
  heartbeats, LISTEN and cancellation keep working while it computes;
* checks `ctx.is_cancelled()` between chunks of work and raises `RunCancelled` when it is
  true (the run was cancelled, timed out, lost its lease, or the worker is shutting down);
* raises `PermanentRunError` for bad input (unknown strategy, invalid parameters, missing or
  corrupt dataset): the run fails at once, without retry, with an error a person can act on.

Everything else a handler raises is classified by `worker.queue.errors.classify`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

import asyncpg
import structlog

from worker.config import Settings
from worker.queue import executor

T = TypeVar("T")

# At most this many progress writes per second per run (the latest value always lands), the
# first one this long after the run started: a run that ends sooner sends no progress at all
# (its final write says it finished), which spares short runs a statement and a NOTIFY each.
PROGRESS_MIN_INTERVAL_SECONDS = 0.25


@dataclass(frozen=True)
class RunJob:
    """A claimed run, as the handler sees it."""

    id: uuid.UUID
    dataset_id: uuid.UUID
    strategy_id: uuid.UUID
    mode: str
    initial_capital: Decimal
    config: dict[str, Any]
    attempt: int
    max_attempts: int
    worker_id: str
    # Set when the row could not be decoded: the run fails with it, its handler never called.
    input_error: PermanentRunError | None = None
    # created_at → claim, database clock (the queue-wait metric).
    queue_wait_seconds: float = 0.0


@dataclass(frozen=True)
class ArtifactRecord:
    """A stored file of a run, as its `artifacts` row will say."""

    kind: str
    filename: str
    storage_path: str
    mime_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class ChunkRecord:
    """A sweep child's evaluation, as its `sweep_chunks` row will hold it (see
    `worker.pipeline.chunks`): `index` in the sweep, rows as JSON, period sums as bytes."""

    index: int
    combinations: int
    partitions: int
    rows: bytes
    counts: bytes
    powers: bytes


@dataclass(frozen=True)
class RunOutcome:
    """What a successful handler returns: values, written by the queue's completer.

    `metrics` uses the engine's metric names; the queue writes the columns final_value,
    total_return, sharpe_ratio, max_drawdown, win_rate, total_trades, winning_trades and
    losing_trades from it, and the whole dict (NaN/Infinity as null) into runs.metrics.
    `metadata` is merged into runs.metadata. `artifacts` become `artifacts` rows and
    `events_csv` (rows in `events` column order: run_id, event_type, timestamp, payload) is
    copied into `events`, in the same transaction as the `succeeded` status and only if the
    run's fence still holds, so an attempt that lost its lease leaves no rows behind. So is a
    sweep child's `chunk` (its `sweep_chunks` row): the fan-in that its success may trigger
    reads it from the same commit.

    `pending_artifacts` are files still being stored on another thread when the handler
    returns: the completer writes the status and the events first, then waits for them
    (at most one lease) and inserts their rows last, in the same transaction. A file that
    fails makes the run end as the handler's own error would.
    """

    metrics: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[ArtifactRecord, ...] = ()
    events_csv: bytes = b""
    chunk: ChunkRecord | None = None
    pending_artifacts: tuple[Future[ArtifactRecord], ...] = ()


@dataclass(frozen=True)
class ChildRun:
    """One child a fanning-out run asks for: its `runs.config` (JSON text), its place among
    the children and the number of combinations it holds (what the parent's progress
    counts)."""

    config_json: str
    index: int
    combinations: int


@dataclass(frozen=True)
class FanOut:
    """What a handler returns for a run that splits into children (a sweep): the queue
    inserts them and parks the run `waiting`, in one fenced statement, and gives the
    attempt back; the run is pending again once its last child has finished."""

    children: tuple[ChildRun, ...]


class PermanentRunError(Exception):
    """Bad input: the run fails at once, with `error` = {type, message, detail}, no retry."""

    def __init__(self, type: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.detail = detail or {}


class RunCancelled(Exception):
    """Raised by a handler that stopped because `ctx.is_cancelled()` became true."""


class CancelReason(StrEnum):
    CANCEL_REQUESTED = "cancel_requested"
    TIMEOUT = "timeout"
    LEASE_LOST = "lease_lost"
    SHUTDOWN = "shutdown"


Handler = Callable[[RunJob, "RunContext"], Awaitable[RunOutcome | FanOut]]
# Writes a run's progress payload (the queue's fenced `progress` statement).
ProgressWriter = Callable[[RunJob, dict[str, Any]], Awaitable[None]]


class RunContext:
    """What the queue gives a handler: the pool, the settings, a logger bound to the run
    (`log`), and the thread-safe controls `is_cancelled`, `report_progress` and `run_cpu`."""

    def __init__(
        self,
        *,
        job: RunJob,
        pool: asyncpg.Pool,
        settings: Settings,
        log: structlog.stdlib.BoundLogger,
        timeout_seconds: float,
        loop: asyncio.AbstractEventLoop,
        progress_writer: ProgressWriter | None = None,
    ) -> None:
        self.job = job
        self.pool = pool
        self.settings = settings
        self._parent_log = log
        self._log: Any = None
        self.timeout_seconds = timeout_seconds
        self._loop = loop
        self._reason: CancelReason | None = None
        self._lock = threading.Lock()
        self._progress_writer = progress_writer
        self._pending_progress: dict[str, Any] | None = None
        self._progress_scheduled = False
        self._last_progress_write = time.monotonic()  # the first write waits one interval
        self._progress_task: asyncio.Task[None] | None = None
        self._progress_waiting = False
        self._finished = False

    @property
    def log(self) -> Any:
        """`log` bound to this run's `run_id` and `attempt` (bound on first use: most runs of
        a busy worker never log at an enabled level)."""
        if self._log is None:
            self._log = self._parent_log.bind(run_id=str(self.job.id), attempt=self.job.attempt)
        return self._log

    # --- for handlers -------------------------------------------------------------------

    def is_cancelled(self) -> bool:
        """True once the run should stop: cancel requested, time limit passed (the queue's
        deadline timer says so), lease lost, or the worker is shutting down. Safe to call
        from any thread."""
        return self._reason is not None  # one attribute read: atomic, safe from any thread

    def report_progress(self, stage: str, pct: float) -> None:
        """Record progress (`pct` in percent, 0-100). Safe from any thread; debounced to a few
        writes per second, the first a quarter of a second into the run: runs.progress is
        updated and NOTIFY run_progress is sent."""
        payload = {
            "run_id": str(self.job.id),
            "stage": str(stage),
            "pct": max(0.0, min(100.0, float(pct))) if pct == pct else None,
        }
        with self._lock:
            if self._finished:
                return
            self._pending_progress = payload
            if self._progress_scheduled or self._progress_writer is None:
                return
            self._progress_scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker is gone
            self._loop.call_soon_threadsafe(self._start_progress_flush)

    async def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-bound `fn(*args)` in a worker thread, off the event loop."""
        return await executor.run_in_thread(fn, *args, name=f"run-{self.job.id}")

    # --- for the queue ------------------------------------------------------------------

    @property
    def cancel_reason(self) -> CancelReason | None:
        return self._reason

    def cancel(self, reason: CancelReason) -> bool:
        """Ask the handler to stop; the first reason wins. True if this call set it."""
        with self._lock:
            if self._reason is not None:
                return False
            self._reason = reason
        return True

    def finish(self) -> None:
        """The handler has returned: progress not yet written is dropped (the run's final
        write says where it ended), and a flush still waiting for its turn is called off."""
        with self._lock:
            self._finished = True
            self._pending_progress = None
        task = self._progress_task
        if task is not None and self._progress_waiting:
            task.cancel()

    def _start_progress_flush(self) -> None:
        self._progress_task = self._loop.create_task(self._flush_progress())

    async def _flush_progress(self) -> None:
        assert self._progress_writer is not None
        wait = self._last_progress_write + PROGRESS_MIN_INTERVAL_SECONDS - time.monotonic()
        if wait > 0:
            self._progress_waiting = True
            try:
                await asyncio.sleep(wait)
            finally:
                self._progress_waiting = False
        with self._lock:
            payload, self._pending_progress = self._pending_progress, None
            self._progress_scheduled = False
        if payload is None:
            return
        self._last_progress_write = time.monotonic()
        try:
            await self._progress_writer(self.job, payload)
        except Exception as error:  # progress is best effort: never fail a run for it
            self.log.warning("progress_write_failed", error=repr(error))


def load_handler(path: str) -> Handler:
    """Import `module:callable`; a clear ValueError/ImportError when it cannot."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"handler {path!r} is not of the form 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"cannot import handler module {module_name!r}: {error}") from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ImportError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(target):
        raise ValueError(f"handler {path!r} is not callable")
    handler: Handler = target
    return handler
