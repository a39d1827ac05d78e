"""The orchestrator: slots, the background loops, a run's life, and shutdown.

One `Worker` per process. It owns an asyncpg pool (claims, heartbeats, completions, the
handler's queries) and one dedicated LISTEN connection, and runs up to `concurrency` runs
at once as asyncio tasks whose CPU work goes to threads (see `executor`).

Shutdown (first SIGTERM/SIGINT): stop claiming; let in-flight runs finish for
SHUTDOWN_GRACE_SECONDS; then stop the rest, hand them back to pending with the attempt not
counted, close the connections. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog

from worker.config import Settings
from worker.queue import completion, queries
from worker.queue.completion import Completer, LeaseLost
from worker.queue.errors import Kind, classify, is_transient
from worker.queue.handler import (
    CancelReason,
    Handler,
    PermanentRunError,
    RunCancelled,
    RunContext,
    RunJob,
    RunOutcome,
)
from worker.queue.heartbeat import Held, heartbeat_loop
from worker.queue.listener import Listener
from worker.queue.reaper import reaper_loop
from worker.queue.retry import backoff_seconds
from worker.queue.worker_id import application_name, new_worker_id

# Young-generation collections every this many allocations, instead of Python's 700: each run
# allocates a few dozen short-lived containers (task, futures, context, records), and at the
# default threshold the collector ran so often that it cost as much as the rest of a no-op run.
GC_THRESHOLD = 20_000
# A run asked to stop (cancelled, timed out) gets this long to notice `is_cancelled()`;
# then its handler task is cancelled and any thread it runs is abandoned.
STOP_GRACE_SECONDS = 3.0
SUPPORTED_MODES = frozenset({"backtest"})


class Deadline:
    """One timer for the runs of a claim that share a time limit, instead of one per run.

    A run leaves it when its handler returns; the timer is cancelled once none is left.
    """

    __slots__ = ("handle", "runs")

    def __init__(self) -> None:
        self.runs: dict[uuid.UUID, ActiveRun] = {}
        self.handle: asyncio.TimerHandle | None = None

    def discard(self, active: ActiveRun) -> None:
        self.runs.pop(active.job.id, None)
        if not self.runs and self.handle is not None:
            self.handle.cancel()
            self.handle = None


class ActiveRun:
    """A run this process holds the lease of, from its claim to its final write."""

    __slots__ = ("ctx", "deadline", "finishing", "job", "started", "task", "timers")

    def __init__(self, job: RunJob, ctx: RunContext, deadline: Deadline) -> None:
        self.job = job
        self.ctx = ctx
        self.deadline = deadline
        self.started = time.monotonic()
        self.task: asyncio.Task[None] | None = None
        self.finishing = False  # the handler has returned: only the final write is left
        self.timers: list[asyncio.TimerHandle] = []  # grace periods of stop requests

    @property
    def log(self) -> Any:
        return self.ctx.log


def _enabled(log: Any, level: int) -> bool:
    check = getattr(log, "is_enabled_for", None)
    return True if check is None else bool(check(level))


class Worker:
    def __init__(
        self,
        settings: Settings,
        handler: Handler,
        *,
        concurrency: int | None = None,
        burst: bool = False,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.concurrency = concurrency or settings.worker_concurrency
        self.burst = burst
        self.worker_id = worker_id or new_worker_id()
        self.log: Any = structlog.get_logger("worker.queue").bind(worker_id=self.worker_id)
        # Runs this process holds a lease on (until their final write); `_executing` counts
        # those whose handler still runs: a slot frees up as soon as the handler returns, so
        # the next claim overlaps the previous runs' completion write.
        self._active: dict[uuid.UUID, ActiveRun] = {}
        self._executing = 0
        self._hand_back: list[tuple[uuid.UUID, int]] = []
        self._stop_requested = asyncio.Event()
        self._signals = 0
        self._pool: asyncpg.Pool | None = None
        self._producer: Any = None
        self._completer: Completer | None = None
        # Whether per-run lines at these levels are written (a run's logger is bound lazily,
        # so a busy worker logging at WARNING does not bind one per run for nothing).
        self._debug = self._info = True

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the worker is not running"
        return self._pool

    def pool_size(self) -> int:
        return self.settings.db_pool_size or min(self.concurrency + 3, 10)

    async def run(self) -> None:
        """Work until stopped (signal, `request_stop`) or, with `burst`, until drained."""
        from worker.queue.producer import Producer

        settings = self.settings
        dsn = settings.asyncpg_dsn
        tune_gc()
        self._debug = _enabled(self.log, logging.DEBUG)
        self._info = _enabled(self.log, logging.INFO)
        self.log.info(
            "worker_starting",
            database=settings.redacted_database_url,
            concurrency=self.concurrency,
            burst=self.burst,
            lease_seconds=settings.lease_seconds,
            poll_interval_seconds=settings.poll_interval_seconds,
        )
        self._pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=self.pool_size(),
            init=queries.setup_connection,
            server_settings={"application_name": application_name(self.worker_id, "pool")},
        )
        self._completer = Completer(
            self.pool, self.worker_id, retry_for_seconds=settings.lease_seconds
        )
        self._completer.start()

        async def connect_claimer() -> asyncpg.Connection:
            connection = await asyncpg.connect(
                dsn,
                timeout=10,
                server_settings={
                    "application_name": application_name(self.worker_id, "claim"),
                    "enable_bitmapscan": "off",
                },
            )
            await queries.setup_connection(connection)
            return connection

        producer = Producer(
            connect_claimer,
            self.worker_id,
            lease_seconds=settings.lease_seconds,
            poll_interval=settings.poll_interval_seconds,
            burst=self.burst,
            burst_horizon=settings.retry_max_seconds,
            free_slots=lambda: 0 if self._stopping else self.concurrency - self._executing,
            busy=lambda: bool(self._active),
            max_claim=max(1, (self.concurrency + 1) // 2),
            start=self._start_runs,
            log=self.log,
        )
        self._producer = producer
        listener = Listener(
            dsn,
            application_name=application_name(self.worker_id, "listen"),
            on_pending=producer.wake,
            on_cancel=self._on_cancel_notification,
            on_connected=producer.wake,
            health_check_seconds=max(1.0, min(settings.poll_interval_seconds, 15.0)),
            log=self.log,
        )
        listener.start()
        background = [
            asyncio.create_task(
                heartbeat_loop(
                    self.pool,
                    self.worker_id,
                    interval=settings.effective_heartbeat_seconds,
                    lease_seconds=settings.lease_seconds,
                    held=self._held,
                    on_result=self._on_heartbeat,
                    log=self.log,
                ),
                name="heartbeat",
            ),
            asyncio.create_task(
                reaper_loop(
                    self.pool,
                    interval=min(settings.poll_interval_seconds, settings.lease_seconds),
                    log=self.log,
                ),
                name="reaper",
            ),
        ]
        produce = asyncio.create_task(producer.run(), name="producer")
        stop = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({produce, stop}, return_when=asyncio.FIRST_COMPLETED)
            producer.stop()
            await produce
            await self._drain()
        finally:
            stop.cancel()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await listener.close()
            await self._completer.close()
            await self.pool.close()
            self.log.info("worker_stopped")

    @property
    def _stopping(self) -> bool:
        return self._stop_requested.is_set()

    def request_stop(self) -> None:
        """Stop claiming and begin the graceful shutdown (idempotent)."""
        if not self._stopping:
            self.log.info("worker_stopping", in_flight=len(self._active))
            self._stop_requested.set()
            if self._producer is not None:
                self._producer.stop()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            self.log.warning("worker_exiting_now", signal=sig.name)
            os._exit(128 + sig.value)
        self.log.info("signal_received", signal=sig.name)
        self.request_stop()

    async def _drain(self) -> None:
        """Grace period for in-flight runs, then stop the rest and hand them back."""
        tasks = [active.task for active in self._active.values() if active.task is not None]
        if tasks:
            grace = self.settings.shutdown_grace_seconds
            self.log.info("shutdown_grace", runs=len(tasks), grace_seconds=grace)
            if grace > 0:
                await asyncio.wait(tasks, timeout=grace)
        for active in list(self._active.values()):
            if not active.finishing:
                self._stop(active, CancelReason.SHUTDOWN, grace=0.0)
        remaining = [a.task for a in self._active.values() if a.task is not None]
        if remaining:
            await asyncio.wait(remaining)
        assert self._completer is not None
        await self._completer.close()
        # A completion that failed to write hands its run to a task that fails or retries it.
        remaining = [a.task for a in self._active.values() if a.task is not None]
        if remaining:
            await asyncio.wait(remaining)
        if self._hand_back:
            held, self._hand_back = self._hand_back, []
            try:
                written = await queries.hand_back(self.pool, self.worker_id, held)
            except Exception as error:
                self.log.error("hand_back_failed", runs=len(held), error=repr(error))
                return
            for run_id, attempt in held:
                self.log.info(
                    "run_handed_back",
                    run_id=str(run_id),
                    attempt=attempt,
                    written=run_id in written,
                )

    # --- runs ---------------------------------------------------------------------------

    def _held(self) -> Held:
        return [(a.job.id, a.job.attempt) for a in self._active.values()]

    def _timeout_for(self, job: RunJob) -> float:
        value = job.config.get("timeout_seconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        return self.settings.run_timeout

    def _start_run(self, job: RunJob) -> None:
        self._start_runs([job])

    def _start_runs(self, jobs: Sequence[RunJob]) -> None:
        """A task per claimed run, and a time-limit timer per distinct limit in the claim."""
        loop = asyncio.get_running_loop()
        deadlines: dict[float, Deadline] = {}
        for job in jobs:
            timeout = self._timeout_for(job)
            deadline = deadlines.get(timeout)
            if deadline is None:
                deadline = deadlines[timeout] = Deadline()
            ctx = RunContext(
                job=job,
                pool=self.pool,
                settings=self.settings,
                log=self.log,
                timeout_seconds=timeout,
                loop=loop,
                progress_writer=self._write_progress,
            )
            active = ActiveRun(job, ctx, deadline)
            deadline.runs[job.id] = active
            self._active[job.id] = active
            self._executing += 1
            active.task = loop.create_task(self._run(active), name=f"run-{job.id}")
        # No run has started yet (the tasks wait for the loop), so none has left its deadline.
        for timeout, deadline in deadlines.items():
            deadline.handle = loop.call_later(timeout, self._on_deadline, deadline)

    async def _write_progress(self, job: RunJob, payload: dict[str, Any]) -> None:
        await queries.write_progress(self.pool, job.id, self.worker_id, job.attempt, payload)

    async def _call_handler(self, job: RunJob, ctx: RunContext) -> RunOutcome:
        if job.mode not in SUPPORTED_MODES:
            raise PermanentRunError(
                "unsupported_mode",
                f"run_mode {job.mode!r} is not executed by this worker; only backtest runs are."
                " Paper and live trading are run by the trading platform.",
                {"mode": job.mode},
            )
        return await self.handler(job, ctx)

    async def _run(self, active: ActiveRun) -> None:
        job, ctx = active.job, active.ctx
        if self._debug:
            ctx.log.debug("run_started", mode=job.mode, max_attempts=job.max_attempts)
        outcome: RunOutcome | None = None
        error: BaseException | None = None
        try:
            outcome = await self._call_handler(job, ctx)
        except asyncio.CancelledError as cancelled:  # stopped by _force_stop
            error = cancelled
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except Exception as failure:
            error = failure
        finally:
            active.finishing = True
            active.deadline.discard(active)
            for timer in active.timers:
                timer.cancel()
            self._executing -= 1
            if self._producer is not None:
                self._producer.wake()
        settled = True
        try:
            settled = await self._settle(active, outcome, error)
        except Exception:
            ctx.log.exception("run_settle_failed")
        finally:
            if settled:
                self._finish(active)

    def _finish(self, active: ActiveRun) -> None:
        """The run's final write is done (or given up): it is no longer ours to heartbeat."""
        self._active.pop(active.job.id, None)
        if self._producer is not None and not self._active:
            self._producer.wake()

    def _on_deadline(self, deadline: Deadline) -> None:
        deadline.handle = None
        for active in list(deadline.runs.values()):
            if not active.finishing:
                self._stop(active, CancelReason.TIMEOUT, grace=STOP_GRACE_SECONDS)

    def _stop(self, active: ActiveRun, reason: CancelReason, *, grace: float) -> None:
        """Ask a run's handler to stop; cancel its task if it has not after `grace`."""
        if active.ctx.cancel(reason):
            active.log.info("run_stop_requested", reason=reason.value)
        if grace <= 0:
            self._force_stop(active)
        else:
            loop = asyncio.get_running_loop()
            active.timers.append(loop.call_later(grace, self._force_stop, active))

    def _force_stop(self, active: ActiveRun) -> None:
        task = active.task
        if task is not None and not active.finishing and not task.done():
            active.log.warning(
                "run_handler_stopped", reason=str(active.ctx.cancel_reason or "unknown")
            )
            task.cancel()

    def _on_cancel_notification(self, payload: str) -> None:
        try:
            run_id = uuid.UUID(payload)
        except ValueError:
            return
        active = self._active.get(run_id)
        if active is not None and not active.finishing:
            self._stop(active, CancelReason.CANCEL_REQUESTED, grace=STOP_GRACE_SECONDS)

    def _on_heartbeat(self, held: Held, alive: dict[uuid.UUID, bool]) -> None:
        for run_id, attempt in held:
            active = self._active.get(run_id)
            if active is None or active.finishing or active.job.attempt != attempt:
                continue
            if run_id not in alive:
                active.log.warning("run_lease_lost")
                self._stop(active, CancelReason.LEASE_LOST, grace=0.0)
            elif alive[run_id]:
                self._stop(active, CancelReason.CANCEL_REQUESTED, grace=STOP_GRACE_SECONDS)

    # --- the final write ----------------------------------------------------------------

    async def _settle(
        self, active: ActiveRun, outcome: RunOutcome | None, error: BaseException | None
    ) -> bool:
        """The final write. False when it was handed to the completer, which then finishes
        the run (`_completed`); True when the run is settled."""
        job, ctx = active.job, active.ctx
        elapsed = round(time.monotonic() - active.started, 3)
        if error is None and outcome is not None:
            return await self._succeed(active, outcome, elapsed)
        log = active.log
        if error is None:
            error = TypeError("the handler returned None, not a RunOutcome")
        reason = ctx.cancel_reason
        if reason is CancelReason.SHUTDOWN:
            self._hand_back.append((job.id, job.attempt))
            return True
        if reason is CancelReason.LEASE_LOST:
            log.warning("run_abandoned", reason="lease_lost", duration_seconds=elapsed)
            return True
        if reason is CancelReason.CANCEL_REQUESTED or (
            reason is None and isinstance(error, RunCancelled)
        ):
            if await self._write(active, queries.cancel, job.id, self.worker_id, job.attempt):
                log.info("run_cancelled", duration_seconds=elapsed)
            return True
        if reason is CancelReason.TIMEOUT:
            await self._fail(
                active,
                {
                    "type": "timeout",
                    "message": f"the run exceeded its time limit of {ctx.timeout_seconds:g} s"
                    " (RUN_TIMEOUT, or timeout_seconds in the run's config)",
                    "detail": {"timeout_seconds": ctx.timeout_seconds},
                },
                elapsed,
            )
            return True
        await self._fail_or_retry(active, error, elapsed)
        return True

    async def _succeed(self, active: ActiveRun, outcome: RunOutcome, elapsed: float) -> bool:
        job = active.job
        completer = self._completer
        assert completer is not None
        try:
            item = completion.prepare(job, outcome)
            if outcome.finalize is None:
                # Batched with other runs' completions; `_completed` finishes the run.
                completer.submit_nowait(
                    item, lambda result: self._completed(active, elapsed, result)
                )
                return False
            await completion.complete_with_finalize(self.pool, self.worker_id, item, outcome)
            written = True
        except LeaseLost:
            written = False
        except Exception as error:
            await self._fail_or_retry(active, error, elapsed)
            return True
        self._log_success(active, written, elapsed)
        return True

    def _completed(self, active: ActiveRun, elapsed: float, result: bool | BaseException) -> None:
        """The completer wrote (True), found fenced off (False) or failed to write a run."""
        if isinstance(result, BaseException):
            active.task = asyncio.get_running_loop().create_task(
                self._completion_failed(active, result, elapsed), name=f"run-{active.job.id}"
            )
            return
        self._log_success(active, result, elapsed)
        self._finish(active)

    async def _completion_failed(
        self, active: ActiveRun, error: BaseException, elapsed: float
    ) -> None:
        try:
            await self._fail_or_retry(active, error, elapsed)
        except Exception:
            active.log.exception("run_settle_failed")
        finally:
            self._finish(active)

    def _log_success(self, active: ActiveRun, written: bool, elapsed: float) -> None:
        if not written:
            active.log.warning(
                "run_result_discarded", reason="lease_lost", duration_seconds=elapsed
            )
        elif self._info:
            active.log.info("run_succeeded", duration_seconds=elapsed)

    async def _fail_or_retry(self, active: ActiveRun, error: BaseException, elapsed: float) -> None:
        job, log = active.job, active.log
        failure = classify(error)
        if failure.kind is Kind.TRANSIENT:
            if job.attempt < job.max_attempts:
                delay = backoff_seconds(
                    job.attempt,
                    self.settings.retry_base_seconds,
                    self.settings.retry_max_seconds,
                )
                if await self._write(
                    active,
                    queries.retry,
                    job.id,
                    self.worker_id,
                    job.attempt,
                    failure.as_error(),
                    delay,
                ):
                    log.warning(
                        "run_retry_scheduled",
                        error=failure.message,
                        retry_in_seconds=round(delay, 3),
                    )
                return
            await self._fail(
                active,
                {
                    "type": "attempts_exhausted",
                    "message": f"attempts exhausted: attempt {job.attempt} of "
                    f"{job.max_attempts} failed with a transient error: {failure.message}",
                    "detail": {
                        "attempts": job.attempt,
                        "max_attempts": job.max_attempts,
                        "last_error": failure.as_error(),
                    },
                },
                elapsed,
            )
            return
        if failure.kind is Kind.INTERNAL:
            log.error("run_internal_error", exc_info=error)
        await self._fail(active, failure.as_error(), elapsed)

    async def _fail(self, active: ActiveRun, error: dict[str, Any], elapsed: float) -> None:
        job = active.job
        if await self._write(active, queries.fail, job.id, self.worker_id, job.attempt, error):
            active.log.warning(
                "run_failed",
                error_type=error["type"],
                error=error["message"],
                duration_seconds=elapsed,
            )

    async def _write(
        self, active: ActiveRun, statement: Callable[..., Awaitable[bool]], *args: Any
    ) -> bool:
        """A fenced final write, retried on connection trouble for up to one lease.

        False when the fence matched nothing (the run is no longer ours) or the database
        stayed unreachable; the lease then expires and the reaper takes over.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.settings.lease_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                written = await statement(self.pool, *args)
            except Exception as error:
                if is_transient(error) and loop.time() < give_up_at:
                    await asyncio.sleep(backoff_seconds(attempt, 0.05, 2.0))
                    continue
                active.log.error("run_write_failed", error=repr(error))
                return False
            if not written:
                active.log.warning("run_write_fenced_off", reason="lease_lost")
            return bool(written)


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the per-run path.

    Everything imported so far (polars, SQLAlchemy, pydantic models, the handler) lives as long
    as the process: `gc.freeze()` moves it out of the collector's view, so the occasional full
    collection does not walk it again; and the young generation is collected less often.
    """
    gc.collect()
    gc.freeze()
    threshold, *older = gc.get_threshold()
    gc.set_threshold(max(threshold, GC_THRESHOLD), *older)


async def run_worker(
    settings: Settings,
    handler: Handler,
    *,
    concurrency: int | None = None,
    burst: bool = False,
    install_signals: bool = True,
) -> Worker:
    worker = Worker(settings, handler, concurrency=concurrency, burst=burst)
    if install_signals:
        worker.install_signal_handlers()
    with contextlib.suppress(asyncio.CancelledError):
        await worker.run()
    return worker
