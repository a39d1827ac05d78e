"""Which runs `runs list` shows: by status, strategy, dataset, label and creation time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from worker.db import Dataset, Run, RunStatus, Strategy


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its own `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class RunFilter:
    """Every field optional; `strategy` and `dataset` are an id or part of a name (any
    case), `label` part of `config.label`; `since` inclusive, `until` exclusive."""

    status: RunStatus | None = None
    strategy: str | None = None
    dataset: str | None = None
    label: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.status is not None:
            query = query.where(Run.status == self.status)
        if self.strategy is not None:
            key = _as_uuid(self.strategy)
            if key is not None:
                query = query.where(Run.strategy_id == key)
            else:
                query = query.where(
                    Run.strategy_id.in_(
                        select(Strategy.id).where(
                            Strategy.name.ilike(contains_pattern(self.strategy), escape="\\")
                        )
                    )
                )
        if self.dataset is not None:
            key = _as_uuid(self.dataset)
            if key is not None:
                query = query.where(Run.dataset_id == key)
            else:
                query = query.where(
                    Run.dataset_id.in_(
                        select(Dataset.id).where(
                            Dataset.name.ilike(contains_pattern(self.dataset), escape="\\")
                        )
                    )
                )
        if self.label is not None:
            query = query.where(
                Run.config["label"].astext.ilike(contains_pattern(self.label), escape="\\")
            )
        if self.since is not None:
            query = query.where(Run.created_at >= self.since)
        if self.until is not None:
            query = query.where(Run.created_at < self.until)
        return query
