"""How a run ends, as a value: one pure decision for every final state.

The run task hands `decide` what the handler returned or raised and why it was stopped (if
it was); the answer is one of the final states below, which the completer writes. Nothing
here touches the database or the event loop, so every rule is unit-tested on its own
(tests/unit/test_outcome.py). `after_write_error` is the same decision for the one case
found only when writing: a success the database refuses for good (a value too large for its
column) becomes a failure, never a second run of the backtest.
"""

from __future__ import annotations

import math
import random
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from worker import jsonsafe
from worker.bounds import bound_error
from worker.queue.errors import Kind, classify, is_transient
from worker.queue.handler import (
    ArtifactRecord,
    CancelReason,
    ChildRun,
    ChunkRecord,
    FanOut,
    PermanentRunError,
    RunCancelled,
    RunJob,
    RunOutcome,
)
from worker.queue.retry import backoff_seconds

# NUMERIC(18,4) holds |x| < 1e14; NUMERIC(10,4) holds |x| < 1e6.
_MONEY_LIMIT = 1e14
_RATIO_LIMIT = 1e6
_REQUIRED = ("final_value", "total_return", "max_drawdown")
_COUNTS = ("total_trades", "winning_trades", "losing_trades")


@dataclass(frozen=True)
class SuccessRow:
    """A successful run's columns, validated and ready for the database."""

    # Numeric values as text (Postgres parses and rounds them to the column's scale).
    final_value: str
    total_return: str
    sharpe_ratio: str | None
    max_drawdown: str
    win_rate: str | None
    total_trades: int
    winning_trades: int
    losing_trades: int
    metrics_json: str
    metadata_json: str


@dataclass(frozen=True)
class Succeed:
    row: SuccessRow
    artifacts: tuple[ArtifactRecord, ...] = ()
    events_csv: bytes = b""
    chunk: ChunkRecord | None = None
    pending: tuple[Future[ArtifactRecord], ...] = ()
    status = "succeeded"


@dataclass(frozen=True)
class Fail:
    error: dict[str, Any]
    status = "failed"

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", bound_error(self.error))


@dataclass(frozen=True)
class Retry:
    error: dict[str, Any]
    delay_seconds: float
    status = "pending"

    def __post_init__(self) -> None:
        object.__setattr__(self, "error", bound_error(self.error))


@dataclass(frozen=True)
class Cancel:
    status = "cancelled"


@dataclass(frozen=True)
class HandBack:
    """Shutdown: back to pending at once, the attempt not counted."""

    status = "pending"


@dataclass(frozen=True)
class Park:
    """The run fans out: its children are inserted and it waits for them (no lease)."""

    children: tuple[ChildRun, ...]
    status = "waiting"


@dataclass(frozen=True)
class Abandon:
    """The lease is gone (another worker owns the run, or it ended): nothing to write."""

    reason: str
    status = "abandoned"


Final = Succeed | Fail | Retry | Cancel | HandBack | Abandon | Park


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff of a run retried after a transient error (RETRY_BASE/MAX_SECONDS)."""

    base_seconds: float
    max_seconds: float
    rng: random.Random | None = None  # tests pin the jitter

    def delay(self, attempt: int) -> float:
        return backoff_seconds(attempt, self.base_seconds, self.max_seconds, self.rng)


def decide(
    job: RunJob,
    *,
    outcome: RunOutcome | FanOut | None,
    error: BaseException | None,
    reason: CancelReason | None,
    timeout_seconds: float,
    policy: RetryPolicy,
) -> Final:
    """The run's final state from what its handler did and why it was stopped.

    A finished backtest is written whatever happened meanwhile (a stop request that came
    too late to matter wastes nothing; the write's fence still refuses a lost lease). A
    handler that did not finish ends as the stop request says, else as its error says.
    """
    if isinstance(outcome, FanOut):
        if error is None:
            return _park(outcome, reason)
        outcome = None
    if error is None and outcome is not None:
        try:
            return succeed(outcome)
        except Exception as invalid:
            return _failure(job, invalid, policy)
    if reason is CancelReason.SHUTDOWN:
        return HandBack()
    if reason is CancelReason.LEASE_LOST:
        return Abandon("lease_lost")
    if reason is CancelReason.TIMEOUT:
        return Fail(
            {
                "type": "timeout",
                "message": f"the run exceeded its time limit of {timeout_seconds:g} s"
                " (RUN_TIMEOUT, or timeout_seconds in the run's config)",
                "detail": {"timeout_seconds": timeout_seconds},
            }
        )
    if reason is CancelReason.CANCEL_REQUESTED or isinstance(error, RunCancelled):
        return Cancel()
    if error is None:
        error = TypeError("the handler returned None, not a RunOutcome")
    return _failure(job, error, policy)


def _park(outcome: FanOut, reason: CancelReason | None) -> Final:
    """A fan-out is written unless the run was cancelled or lost meanwhile."""
    if reason is CancelReason.CANCEL_REQUESTED:
        return Cancel()
    if reason is CancelReason.LEASE_LOST:
        return Abandon("lease_lost")
    if not outcome.children:
        return Fail({"type": "invalid_grid", "message": "the sweep has no combinations"})
    return Park(tuple(outcome.children))


def after_write_error(final: Final, error: BaseException) -> Final | None:
    """What to write instead of `final` after the database refused it for good (a success
    or a fan-out becomes a failure); None when there is nothing better to write (the error
    is transient, or `final` is a failure)."""
    if is_transient(error) or not isinstance(final, Succeed | Park):
        return None
    failure = classify(error)
    return Fail(failure.as_error())


def after_file_error(job: RunJob, error: BaseException, policy: RetryPolicy) -> Final:
    """What a success becomes when one of its pending files failed (found by the completer,
    after the handler returned): the run ends as `decide` says of that error raised by the
    handler itself."""
    return decide(job, outcome=None, error=error, reason=None, timeout_seconds=0.0, policy=policy)


def _failure(job: RunJob, error: BaseException, policy: RetryPolicy) -> Final:
    failure = classify(error)
    if failure.kind is not Kind.TRANSIENT:
        return Fail(failure.as_error())
    if job.attempt < job.max_attempts:
        return Retry(failure.as_error(), policy.delay(job.attempt))
    return Fail(
        {
            "type": "attempts_exhausted",
            "message": f"attempts exhausted: attempt {job.attempt} of {job.max_attempts}"
            f" failed with a transient error: {failure.message}",
            "detail": {
                "attempts": job.attempt,
                "max_attempts": job.max_attempts,
                "last_error": failure.as_error(),
            },
        }
    )


def succeed(outcome: RunOutcome) -> Succeed:
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
    row = SuccessRow(
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
    return Succeed(
        row,
        tuple(outcome.artifacts),
        outcome.events_csv,
        outcome.chunk,
        tuple(outcome.pending_artifacts),
    )


def _number(name: str, value: Any, limit: float, column: str) -> str | None:
    """The metric as numeric text for Postgres; None (NULL) for NaN/Infinity.

    A value that still overflows once Postgres rounds it to 4 places raises 22003 there,
    which `after_write_error` turns into the same permanent `value_out_of_range` error.
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
