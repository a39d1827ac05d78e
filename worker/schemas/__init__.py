"""Pydantic v2 models for the shared tables; Node.js gets their rules as JSON Schema."""

from worker.schemas.artifact import ArtifactCreate, ArtifactRead
from worker.schemas.dataset import DatasetCreate, DatasetRead
from worker.schemas.event import EventCreate, EventRead
from worker.schemas.run import RunCreate, RunError, RunRead
from worker.schemas.strategy import StrategyCreate, StrategyRead

__all__ = [
    "ArtifactCreate",
    "ArtifactRead",
    "DatasetCreate",
    "DatasetRead",
    "EventCreate",
    "EventRead",
    "RunCreate",
    "RunError",
    "RunRead",
    "StrategyCreate",
    "StrategyRead",
]
