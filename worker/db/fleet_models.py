"""The fleet's own tables (not shared data): the workers that are up, and the queue's pause
flag. Both are written by the worker and the CLI/API; Node only reads them, if at all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from worker.db.base import Base

WORKER_STATES = ("running", "stopping", "stopped")
_now = text("now()")


class WorkerRow(Base):
    """A worker process, registered at start and beating with its heartbeat."""

    __tablename__ = "workers"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'stopping', 'stopped')", name="state_known"),
        CheckConstraint("concurrency > 0", name="concurrency_positive"),
    )

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    concurrency: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(server_default=_now)
    last_beat: Mapped[datetime] = mapped_column(server_default=_now)
    state: Mapped[str] = mapped_column(String(16), server_default=text("'running'"))


class QueueState(Base):
    """One row: whether claiming is paused for the whole fleet, since when and by whom."""

    __tablename__ = "queue_state"
    __table_args__ = (CheckConstraint("singleton", name="one_row"),)

    singleton: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=text("true"))
    paused: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    changed_at: Mapped[datetime] = mapped_column(server_default=_now)
    changed_by: Mapped[str | None] = mapped_column(String(255))
