"""What a failure means for a run: transient (retry with backoff), permanent (fail now)
or a bug (fail now, type `internal_error`).

A deterministic bug would fail the same way on every attempt, so an unexpected Python
exception fails the run at once instead of burning its attempts in a retry loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import asyncpg

from worker.queue.handler import PermanentRunError

# SQLSTATEs worth another attempt: connection exceptions (08), serialization failure and
# deadlock (40001, 40P01), shutdown/restart of the server (57P01-57P03), statement timeout
# or cancel (57014), lock timeouts (55P03) and lack of resources (53).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53")
_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "57014", "55P03"}
# Local file problems are not connection trouble: the handler should have said what is wrong.
_NOT_TRANSIENT_OS_ERRORS = (
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


class Kind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Failure:
    kind: Kind
    type: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_error(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "detail": self.detail}


def is_transient(error: BaseException) -> bool:
    if isinstance(error, asyncpg.PostgresError):
        state = getattr(error, "sqlstate", None) or ""
        return state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    if isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError):
        # "connection is closed", "cannot perform operation: another operation is in progress"
        return True
    if isinstance(error, _NOT_TRANSIENT_OS_ERRORS):
        return False
    return isinstance(error, OSError | TimeoutError | asyncio.TimeoutError)


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def classify(error: BaseException) -> Failure:
    """The failure a handler (or completion) exception stands for."""
    if isinstance(error, PermanentRunError):
        return Failure(Kind.PERMANENT, error.type, error.message, dict(error.detail))
    if isinstance(error, asyncpg.NumericValueOutOfRangeError):
        return Failure(
            Kind.PERMANENT,
            "value_out_of_range",
            "a result is too large for its database column (NUMERIC(18,4) money, "
            f"NUMERIC(10,4) ratios): {error}",
            {"sqlstate": error.sqlstate},
        )
    if isinstance(error, asyncpg.IntegrityConstraintViolationError | asyncpg.DataError):
        return Failure(
            Kind.PERMANENT,
            "invalid_result",
            f"the run's result was rejected by the database: {error}",
            {"sqlstate": error.sqlstate},
        )
    if is_transient(error):
        detail: dict[str, Any] = {"exception": type(error).__name__}
        state = getattr(error, "sqlstate", None)
        if state:
            detail["sqlstate"] = state
        return Failure(Kind.TRANSIENT, "transient_error", _describe(error), detail)
    return Failure(
        Kind.INTERNAL,
        "internal_error",
        _describe(error),
        {"exception": f"{type(error).__module__}.{type(error).__qualname__}"},
    )
