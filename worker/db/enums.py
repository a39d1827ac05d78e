"""PostgreSQL ENUM types shared with Node.js. Values are stored lowercase, as written here."""

from enum import StrEnum


class RunMode(StrEnum):
    BACKTEST = "backtest"
    PAPER = "paper"
    LIVE = "live"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # a sweep, parked until its children finish (0010)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class ArtifactKind(StrEnum):
    PLOT = "plot"
    REPORT = "report"
    CSV = "csv"
    PICKLE = "pickle"
    JSON = "json"
    PARQUET = "parquet"
