"""The one decision of how a run ends, without a database (worker.queue.outcome)."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from tests.queue import handlers
from worker.queue.handler import (
    CancelReason,
    ChildRun,
    FanOut,
    PermanentRunError,
    RunCancelled,
    RunJob,
    RunOutcome,
)
from worker.queue.outcome import (
    Abandon,
    Cancel,
    Fail,
    HandBack,
    Park,
    Retry,
    RetryPolicy,
    Succeed,
    after_file_error,
    after_write_error,
    decide,
)

POLICY = RetryPolicy(2.0, 300.0, rng=random.Random(7))


def job(attempt: int = 1, max_attempts: int = 3) -> RunJob:
    return RunJob(
        id=uuid.uuid4(),
        dataset_id=uuid.uuid4(),
        strategy_id=uuid.uuid4(),
        mode="backtest",
        initial_capital=Decimal(10000),
        config={},
        attempt=attempt,
        max_attempts=max_attempts,
        worker_id="w",
    )


def end(run: RunJob, **kwargs: Any) -> Any:
    kwargs.setdefault("outcome", None)
    kwargs.setdefault("error", None)
    kwargs.setdefault("reason", None)
    return decide(run, timeout_seconds=60, policy=POLICY, **kwargs)


def test_a_valid_outcome_succeeds_with_its_columns_as_text() -> None:
    run = job()
    final = end(run, outcome=handlers.outcome(run))
    assert isinstance(final, Succeed)
    assert final.row.final_value == "11000.0" and final.row.total_trades == 4


@pytest.mark.parametrize("reason", list(CancelReason))
def test_a_finished_backtest_is_written_whatever_stop_came_too_late(reason: CancelReason) -> None:
    run = job()
    assert isinstance(end(run, outcome=handlers.outcome(run), reason=reason), Succeed)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (CancelReason.SHUTDOWN, HandBack),
        (CancelReason.LEASE_LOST, Abandon),
        (CancelReason.CANCEL_REQUESTED, Cancel),
        (CancelReason.TIMEOUT, Fail),
    ],
)
def test_a_stopped_run_ends_as_its_stop_says(reason: CancelReason, expected: type) -> None:
    final = end(job(), error=asyncio.CancelledError(), reason=reason)
    assert isinstance(final, expected)
    if isinstance(final, Fail):
        assert final.error["type"] == "timeout" and "60 s" in final.error["message"]


def test_a_handler_that_stops_by_itself_is_cancelled() -> None:
    assert isinstance(end(job(), error=RunCancelled()), Cancel)


def test_bad_input_fails_at_once_with_its_error() -> None:
    error = PermanentRunError("invalid_params", "fast must be < slow", {"fast": 5})
    final = end(job(attempt=1), error=error)
    assert final == Fail(
        {"type": "invalid_params", "message": "fast must be < slow", "detail": {"fast": 5}}
    )


def test_a_transient_error_retries_with_backoff_until_the_attempts_are_used() -> None:
    error = asyncpg.exceptions.SerializationError("could not serialize access")
    first = end(job(attempt=1), error=error)
    assert isinstance(first, Retry) and 1.0 <= first.delay_seconds <= 2.0
    second = end(job(attempt=2), error=error)
    assert isinstance(second, Retry) and 2.0 <= second.delay_seconds <= 4.0
    last = end(job(attempt=3), error=error)
    assert isinstance(last, Fail) and last.error["type"] == "attempts_exhausted"
    assert last.error["detail"]["last_error"]["type"] == "transient_error"
    assert "attempt 3 of 3" in last.error["message"]


def test_a_bug_fails_at_once_as_internal_error() -> None:
    final = end(job(), error=KeyError("column"))
    assert isinstance(final, Fail) and final.error["type"] == "internal_error"


def test_metrics_that_cannot_fit_their_columns_fail_the_run() -> None:
    run = job()
    huge = end(run, outcome=handlers.outcome(run, final_value=1e20))
    assert isinstance(huge, Fail) and huge.error["type"] == "value_out_of_range"
    missing = end(run, outcome=RunOutcome(metrics={"final_value": 1.0}))
    assert isinstance(missing, Fail) and missing.error["type"] == "invalid_metrics"
    nothing = end(run)
    assert isinstance(nothing, Fail) and nothing.error["type"] == "internal_error"


def test_a_success_the_database_refuses_for_good_becomes_a_failure() -> None:
    run = job()
    success = end(run, outcome=handlers.outcome(run))
    overflow = asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow")
    instead = after_write_error(success, overflow)
    assert isinstance(instead, Fail) and instead.error["type"] == "value_out_of_range"
    # A transient error is retried by the completer, not turned into something else.
    assert after_write_error(success, ConnectionResetError()) is None
    # A failure refused for good has nothing better to become.
    assert after_write_error(Fail({"type": "x", "message": "y"}), overflow) is None


def test_a_failed_pending_file_ends_the_run_as_the_handler_raising_it_would() -> None:
    retried = after_file_error(job(attempt=1), OSError("disk full"), POLICY)
    assert isinstance(retried, Retry) and retried.error["type"] == "transient_error"
    exhausted = after_file_error(job(attempt=3), OSError("disk full"), POLICY)
    assert isinstance(exhausted, Fail) and exhausted.error["type"] == "attempts_exhausted"
    bad = after_file_error(job(), PermanentRunError("bad_file", "cannot write it"), POLICY)
    assert isinstance(bad, Fail) and bad.error["type"] == "bad_file"
    bug = after_file_error(job(), KeyError("bug"), POLICY)
    assert isinstance(bug, Fail) and bug.error["type"] == "internal_error"


FAN_OUT = FanOut((ChildRun('{"sweep_chunk": {"index": 0}}', 0, 3),))


def test_a_fan_out_parks_the_run_unless_it_was_cancelled_or_lost() -> None:
    parked = end(job(), outcome=FAN_OUT)
    assert isinstance(parked, Park) and parked.children == FAN_OUT.children
    assert isinstance(end(job(), outcome=FAN_OUT, reason=CancelReason.SHUTDOWN), Park)
    assert isinstance(end(job(), outcome=FAN_OUT, reason=CancelReason.CANCEL_REQUESTED), Cancel)
    assert isinstance(end(job(), outcome=FAN_OUT, reason=CancelReason.LEASE_LOST), Abandon)
    empty = end(job(), outcome=FanOut(()))
    assert isinstance(empty, Fail) and empty.error["type"] == "invalid_grid"


def test_a_fan_out_the_database_refuses_for_good_fails_the_run() -> None:
    refused = asyncpg.CheckViolationError("new row violates check constraint")
    instead = after_write_error(Park(FAN_OUT.children), refused)
    assert isinstance(instead, Fail)
    assert after_write_error(Park(FAN_OUT.children), ConnectionResetError()) is None
