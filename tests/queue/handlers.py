"""Run handlers for the queue's tests (and the benchmark): trivial engines.

They read their behaviour from the run's config, so one worker process can serve runs that
each do something different: `{"sleep": 2}`, `{"fail": "transient"}`, …
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import asyncpg

from worker.queue.handler import (
    ArtifactRecord,
    PermanentRunError,
    RunCancelled,
    RunContext,
    RunJob,
    RunOutcome,
)


def metrics(job: RunJob, **extra: Any) -> dict[str, Any]:
    return {
        "final_value": float(job.initial_capital) * 1.1,
        "total_return": 0.1,
        "sharpe_ratio": 1.5,
        "max_drawdown": -0.05,
        "win_rate": 0.5,
        "total_trades": 4,
        "winning_trades": 2,
        "losing_trades": 2,
        **extra,
    }


def outcome(job: RunJob, **extra: Any) -> RunOutcome:
    return RunOutcome(
        metrics=metrics(job, **extra),
        metadata={"worker_id": job.worker_id, "attempt": job.attempt, "pid": os.getpid()},
    )


async def noop(job: RunJob, ctx: RunContext) -> RunOutcome:
    return outcome(job)


async def sleep(job: RunJob, ctx: RunContext) -> RunOutcome:
    """Sleeps config["sleep"] seconds in small steps, stopping when cancelled."""
    seconds = float(job.config.get("sleep", 1.0))
    deadline = time.monotonic() + seconds
    ctx.report_progress("sleeping", 0.0)
    while time.monotonic() < deadline:
        if ctx.is_cancelled():
            raise RunCancelled()
        await asyncio.sleep(0.05)
        ctx.report_progress("sleeping", 100 * (1 - (deadline - time.monotonic()) / seconds))
    return outcome(job)


async def sleep_uncooperative(job: RunJob, ctx: RunContext) -> RunOutcome:
    """Sleeps config["sleep"] seconds in a thread, never looking at is_cancelled()."""
    await ctx.run_cpu(time.sleep, float(job.config.get("sleep", 1.0)))
    return outcome(job)


def _busy(seconds: float, ctx: RunContext) -> int:
    """A pure-Python loop that holds the GIL (the worst case for the event loop)."""
    deadline = time.monotonic() + seconds
    spins = 0
    while time.monotonic() < deadline:
        for _ in range(10_000):
            spins += 1
        if ctx.is_cancelled():
            raise RunCancelled()
    return spins


async def cpu(job: RunJob, ctx: RunContext) -> RunOutcome:
    spins = await ctx.run_cpu(_busy, float(job.config.get("cpu", 1.0)), ctx)
    return outcome(job, spins=spins)


async def configured(job: RunJob, ctx: RunContext) -> RunOutcome:
    """Does what config says: fail permanently/transiently/with a bug, sleep, burn CPU."""
    fail = job.config.get("fail")
    if fail == "permanent":
        raise PermanentRunError(
            "invalid_parameters",
            "strategy parameter 'fast' must be smaller than 'slow' (got fast=50, slow=20)",
            {"fast": 50, "slow": 20},
        )
    if fail == "transient":
        raise asyncpg.exceptions.SerializationError("could not serialize access")
    if fail == "connection":
        raise ConnectionResetError("connection reset by peer")
    if fail == "bug":
        raise KeyError("no_such_column")
    if fail == "transient_once" and job.attempt == 1:
        raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
    if job.config.get("huge"):
        return outcome(job, final_value=1e20)
    if job.config.get("nan"):
        return outcome(job, sharpe_ratio=float("nan"), profit_factor=float("inf"))
    if "cpu" in job.config:
        return await cpu(job, ctx)
    if job.config.get("uncooperative"):
        return await sleep_uncooperative(job, ctx)
    if "sleep" in job.config:
        return await sleep(job, ctx)
    if job.config.get("attachments"):
        artifact = ArtifactRecord(
            kind="json",
            filename="result.json",
            storage_path=f"/tmp/{job.id}/result.json",
            mime_type="application/json",
            size_bytes=2,
            sha256="0" * 64,
        )
        events = f'{job.id},attached,2024-01-02T00:00:00+00:00,"{{""n"": 1}}"\n'.encode()
        return RunOutcome(metrics=metrics(job), artifacts=(artifact,), events_csv=events)
    return outcome(job)
