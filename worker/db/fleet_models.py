"""The fleet's own tables (not shared data): the workers that are up, the queue's pause
flag, the queue's index of pending and running runs, and the chunks a sweep's children
evaluated. Written by the worker and the CLI/API;
Node only reads them, if at all."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    text,
)
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


class RunQueueRow(Base):
    """One row per pending or running run (lease NULL while pending): what the claim orders
    by and the reaper looks for, kept by triggers on `runs` and the queue's statements
    (migration 0015), so that no index of `runs` changes when a run is claimed."""

    __tablename__ = "run_queue"
    __table_args__ = (
        Index(
            "ix_run_queue_pending",
            text("priority DESC"),
            "run_after",
            "created_at",
            postgresql_where=text("lease_expires_at IS NULL"),
        ),
        Index(
            "ix_run_queue_lease",
            "lease_expires_at",
            postgresql_where=text("lease_expires_at IS NOT NULL"),
        ),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_run_queue_run_id_runs"),
        primary_key=True,
    )
    priority: Mapped[int] = mapped_column(SmallInteger)
    run_after: Mapped[datetime]
    created_at: Mapped[datetime]
    lease_expires_at: Mapped[datetime | None]


class SweepChunkRow(Base):
    """What one child of a sweep evaluated: its combinations' leaderboard rows (JSON) and
    period sums (float64 arrays), read back by the parent's fan-in."""

    __tablename__ = "sweep_chunks"
    __table_args__ = (
        CheckConstraint("combinations > 0", name="combinations_positive"),
        Index("ix_sweep_chunks_parent_id_chunk_index", "parent_id", "chunk_index"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_sweep_chunks_run_id_runs"),
        primary_key=True,
    )
    parent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_sweep_chunks_parent_id_runs")
    )
    chunk_index: Mapped[int] = mapped_column(Integer)
    combinations: Mapped[int] = mapped_column(Integer)
    partitions: Mapped[int] = mapped_column(Integer)
    rows: Mapped[bytes] = mapped_column(LargeBinary)
    counts: Mapped[bytes] = mapped_column(LargeBinary)
    powers: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=_now)
