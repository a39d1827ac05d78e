"""The runs a worker process holds: each one's task, from its claim to its final write.

A claimed run gets a task that calls the handler; what the handler returned or raised, and
why it was stopped if it was, become the run's final state (`outcome.decide`), which the
completer writes. A run stays held (its lease renewed by the heartbeat) until that write is
settled, but its slot frees as soon as the handler returns, so the next claim overlaps the
previous runs' completion.

Stopping a run (cancel requested, time limit, lease lost, shutdown) is one mechanism:
`stop` sets the reason, which the handler sees through `ctx.is_cancelled()`, and cancels
the handler's task if it has not returned after a grace period. The time limit is one timer
per claim and limit (`Deadline`), not one per run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from worker.config import Settings
from worker.observability.worker_metrics import WorkerMetrics, final_label
from worker.queue.completer import AckLost, Completer, Written
from worker.queue.errors import Kind, classify
from worker.queue.handler import CancelReason, Handler, PermanentRunError, RunContext, RunJob
from worker.queue.heartbeat import Held
from worker.queue.outcome import (
    Abandon,
    Cancel,
    Fail,
    Final,
    HandBack,
    Park,
    Retry,
    RetryPolicy,
    Succeed,
    decide,
)

# A run asked to stop (cancelled, timed out) gets this long to notice `is_cancelled()`;
# then its handler task is cancelled and any thread it runs is abandoned.
STOP_GRACE_SECONDS = 3.0
SUPPORTED_MODES = frozenset({"backtest"})

ProgressWriter = Callable[[RunJob, dict[str, Any]], Awaitable[None]]


class Deadline:
    """One timer for the runs of a claim that share a time limit.

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


class Runs:
    def __init__(
        self,
        settings: Settings,
        handler: Handler,
        completer: Completer,
        *,
        context: Callable[[RunJob, float], RunContext],
        on_slot_free: Callable[[], None],
        log: Any,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._handler = handler
        self._completer = completer
        self._context = context
        self._on_slot_free = on_slot_free
        self._log = log
        self._metrics = metrics
        self._policy = RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds)
        self.active: dict[uuid.UUID, ActiveRun] = {}
        self.executing = 0  # runs whose handler has not returned yet
        self._settled = asyncio.Event()
        self._settled.set()
        # Per-run lines are written only when their level is on (the run's logger is bound
        # lazily, so a busy worker logging at WARNING binds none for nothing).
        self._debug = _enabled(log, logging.DEBUG)
        self._info = _enabled(log, logging.INFO)

    def held(self) -> Held:
        return [(a.job.id, a.job.attempt) for a in self.active.values()]

    def timeout_for(self, job: RunJob) -> float:
        value = job.config.get("timeout_seconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        return self._settings.run_timeout

    def start(self, jobs: Sequence[RunJob]) -> None:
        """A task per claimed run, and a time-limit timer per distinct limit in the claim."""
        loop = asyncio.get_running_loop()
        deadlines: dict[float, Deadline] = {}
        for job in jobs:
            timeout = self.timeout_for(job)
            deadline = deadlines.get(timeout)
            if deadline is None:
                deadline = deadlines[timeout] = Deadline()
            active = ActiveRun(job, self._context(job, timeout), deadline)
            deadline.runs[job.id] = active
            self.active[job.id] = active
            self.executing += 1
            active.task = loop.create_task(self._run(active), name=f"run-{job.id}")
        self._settled.clear()
        # No run has started yet (the tasks wait for the loop), so none has left its deadline.
        for timeout, deadline in deadlines.items():
            deadline.handle = loop.call_later(timeout, self._on_deadline, deadline)

    # --- stopping runs ------------------------------------------------------------------

    def stop(self, active: ActiveRun, reason: CancelReason, *, grace: float) -> None:
        """Ask a run's handler to stop; cancel its task if it has not after `grace`."""
        if active.finishing:
            return
        if active.ctx.cancel(reason):
            active.ctx.log.info("run_stop_requested", reason=reason.value)
        if grace <= 0:
            self._force_stop(active)
        else:
            loop = asyncio.get_running_loop()
            active.timers.append(loop.call_later(grace, self._force_stop, active))

    def stop_all(self, reason: CancelReason) -> None:
        for active in list(self.active.values()):
            self.stop(active, reason, grace=0.0)

    def on_cancel_notification(self, payload: str) -> None:
        try:
            run_id = uuid.UUID(payload)
        except ValueError:
            return
        active = self.active.get(run_id)
        if active is not None:
            self.stop(active, CancelReason.CANCEL_REQUESTED, grace=STOP_GRACE_SECONDS)

    def on_heartbeat(self, held: Held, alive: dict[uuid.UUID, bool]) -> None:
        for run_id, attempt in held:
            active = self.active.get(run_id)
            if active is None or active.finishing or active.job.attempt != attempt:
                continue
            if run_id not in alive:
                active.ctx.log.warning("run_lease_lost")
                if self._metrics is not None:
                    self._metrics.leases_lost.inc()
                self.stop(active, CancelReason.LEASE_LOST, grace=0.0)
            elif alive[run_id]:
                self.stop(active, CancelReason.CANCEL_REQUESTED, grace=STOP_GRACE_SECONDS)

    def _on_deadline(self, deadline: Deadline) -> None:
        deadline.handle = None
        for active in list(deadline.runs.values()):
            self.stop(active, CancelReason.TIMEOUT, grace=STOP_GRACE_SECONDS)

    def _force_stop(self, active: ActiveRun) -> None:
        task = active.task
        if task is not None and not active.finishing and not task.done():
            active.ctx.log.warning(
                "run_handler_stopped", reason=str(active.ctx.cancel_reason or "unknown")
            )
            task.cancel()

    async def wait_handlers(self, seconds: float) -> None:
        """Until every handler has returned, or `seconds` pass."""
        tasks = [a.task for a in self.active.values() if a.task is not None and not a.finishing]
        if tasks:
            await asyncio.wait(tasks, timeout=seconds)

    async def wait_settled(self) -> None:
        """Until every held run's final write is settled."""
        await self._settled.wait()

    # --- a run's life -------------------------------------------------------------------

    async def _run(self, active: ActiveRun) -> None:
        job, ctx = active.job, active.ctx
        if self._debug:
            ctx.log.debug("run_started", mode=job.mode, max_attempts=job.max_attempts)
        outcome: Any = None
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
            ctx.finish()
            active.deadline.discard(active)
            for timer in active.timers:
                timer.cancel()
            self.executing -= 1
            self._on_slot_free()
        final = decide(
            job,
            outcome=outcome,
            error=error,
            reason=ctx.cancel_reason,
            timeout_seconds=ctx.timeout_seconds,
            policy=self._policy,
        )
        if isinstance(final, Fail) and error and classify(error).kind is Kind.INTERNAL:
            ctx.log.error("run_internal_error", exc_info=error)
        self._completer.submit(
            job, final, lambda final, written: self._ended(active, final, written)
        )

    async def _call_handler(self, job: RunJob, ctx: RunContext) -> Any:
        if job.input_error is not None:
            raise job.input_error
        if job.mode not in SUPPORTED_MODES:
            raise PermanentRunError(
                "unsupported_mode",
                f"run_mode {job.mode!r} is not executed by this worker; only backtest runs are."
                " Paper and live trading are run by the trading platform.",
                {"mode": job.mode},
            )
        return await self._handler(job, ctx)

    def _ended(self, active: ActiveRun, final: Final, written: Written) -> None:
        """The final write is settled: the run is no longer ours to heartbeat."""
        self._log_end(active, final, written)
        if self._metrics is not None:
            status, error_type = final_label(final, written)
            self._metrics.finished(status, error_type, time.monotonic() - active.started)
        self.active.pop(active.job.id, None)
        if not self.active:
            self._settled.set()
            self._on_slot_free()

    def _log_end(self, active: ActiveRun, final: Final, written: Written) -> None:
        log = active.ctx.log
        elapsed = round(time.monotonic() - active.started, 3)
        if isinstance(written, BaseException):
            return  # the completer logged it; the lease expires and the reaper takes over
        if isinstance(written, AckLost):
            log = log.bind(ack_lost=True)
        if isinstance(final, HandBack):
            log.info("run_handed_back", written=written)
        elif isinstance(final, Abandon):
            log.warning("run_abandoned", reason=final.reason, duration_seconds=elapsed)
        elif not written:
            event = "run_result_discarded" if isinstance(final, Succeed) else "run_write_fenced_off"
            log.warning(event, reason="lease_lost", duration_seconds=elapsed)
        elif isinstance(final, Succeed):
            if self._info:
                log.info("run_succeeded", duration_seconds=elapsed)
        elif isinstance(final, Fail):
            log.warning(
                "run_failed",
                error_type=final.error["type"],
                error=final.error["message"],
                duration_seconds=elapsed,
            )
        elif isinstance(final, Retry):
            log.warning(
                "run_retry_scheduled",
                error=final.error["message"],
                retry_in_seconds=round(final.delay_seconds, 3),
            )
        elif isinstance(final, Cancel):
            log.info("run_cancelled", duration_seconds=elapsed)
        elif isinstance(final, Park):
            log.info("run_fanned_out", children=len(final.children), duration_seconds=elapsed)


def _enabled(log: Any, level: int) -> bool:
    check = getattr(log, "is_enabled_for", None)
    return True if check is None else bool(check(level))
