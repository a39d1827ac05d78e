"""Database layer: models (the schema's source of truth), enums and engine helpers."""

from worker.db.base import Base
from worker.db.enums import TERMINAL_STATUSES, ArtifactKind, RunMode, RunStatus
from worker.db.fleet_models import QueueState, RunQueueRow, SweepChunkRow, WorkerRow
from worker.db.models import ApiKey, Artifact, Dataset, Event, Run, Strategy

__all__ = [
    "TERMINAL_STATUSES",
    "ApiKey",
    "Artifact",
    "ArtifactKind",
    "Base",
    "Dataset",
    "Event",
    "QueueState",
    "Run",
    "RunMode",
    "RunQueueRow",
    "RunStatus",
    "Strategy",
    "SweepChunkRow",
    "WorkerRow",
]
