"""The five shared tables: the schema's source of truth (migrations are checked against it).

`runs` is both the record of a backtest and the queue. Its lifecycle columns are described in
docs/contract.md; the transitions themselves are enforced by triggers (see the first migration),
so Node.js and Python obey the same rules.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from worker.db.base import Base, Money, Ratio
from worker.db.enums import ArtifactKind, RunMode, RunStatus


def _pg_enum(enum_cls: type[Any], name: str) -> Enum:
    return Enum(
        enum_cls,
        name=name,
        values_callable=lambda members: [member.value for member in members],
        create_type=False,
        validate_strings=True,
    )


run_mode_enum = _pg_enum(RunMode, "run_mode")
run_status_enum = _pg_enum(RunStatus, "run_status")
artifact_kind_enum = _pg_enum(ArtifactKind, "artifact_kind")

_now = text("now()")


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


_empty_object = text("'{}'::jsonb")


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("hash", name="uq_datasets_hash"),
        CheckConstraint("hash ~ '^[0-9a-f]{64}$'", name="hash_format"),
        CheckConstraint("end_date >= start_date", name="daterange"),
        CheckConstraint("row_count > 0", name="row_count_positive"),
        CheckConstraint("cardinality(symbols) > 0", name="symbols_nonempty"),
        CheckConstraint("timeframe ~ '^[1-9][0-9]*(s|m|h|d|w|M)$'", name="timeframe_format"),
        Index("ix_datasets_timeframe", "timeframe"),
        Index("ix_datasets_daterange", "start_date", "end_date"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    symbols: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    timeframe: Mapped[str] = mapped_column(String(8))
    start_date: Mapped[datetime]
    end_date: Mapped[datetime]
    row_count: Mapped[int] = mapped_column(BigInteger)
    storage_uri: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=_now)

    runs: Mapped[list[Run]] = relationship(back_populates="dataset", passive_deletes="all")


class Strategy(Base):
    __tablename__ = "strategies"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_strategies_name_version"),
        CheckConstraint("jsonb_typeof(params) = 'object'", name="params_object"),
        Index("ix_strategies_params", "params", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(64), server_default=text("'1.0.0'"))
    description: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(server_default=_empty_object)
    created_at: Mapped[datetime] = mapped_column(server_default=_now)

    runs: Mapped[list[Run]] = relationship(back_populates="strategy", passive_deletes="all")


SUCCEEDED_HAS_METRICS = (
    "status <> 'succeeded' OR ("
    "final_value IS NOT NULL AND total_return IS NOT NULL AND max_drawdown IS NOT NULL"
    " AND total_trades IS NOT NULL AND winning_trades IS NOT NULL"
    " AND losing_trades IS NOT NULL AND metrics IS NOT NULL AND finished_at IS NOT NULL)"
)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint("initial_capital > 0", name="initial_capital_positive"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("total_trades = winning_trades + losing_trades", name="trades_sum"),
        CheckConstraint("max_drawdown <= 0", name="max_drawdown_nonpositive"),
        CheckConstraint("win_rate >= 0 AND win_rate <= 1", name="win_rate_range"),
        CheckConstraint(SUCCEEDED_HAS_METRICS, name="succeeded_has_metrics"),
        CheckConstraint(
            "status <> 'running' OR (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL)",
            name="running_has_lease",
        ),
        CheckConstraint("jsonb_typeof(config) = 'object'", name="config_object"),
        CheckConstraint("error IS NULL OR jsonb_typeof(error) = 'object'", name="error_object"),
        Index("ix_runs_mode_date", "mode", "created_at"),
        Index(
            "ix_runs_metadata",
            "metadata",
            postgresql_using="gin",
            postgresql_ops={"metadata": "jsonb_path_ops"},
        ),
        # No index of runs names a column the claim or a heartbeat writes (status, locked_by,
        # attempts, started_at, lease_expires_at, progress): the claim's order and the lease
        # are indexed in run_queue (fleet_models.RunQueueRow, migration 0015).
        Index("ix_runs_dataset_id", "dataset_id"),
        Index("ix_runs_strategy_id", "strategy_id"),
        Index("ix_runs_created_at_id", "created_at", "id"),
        Index("ix_runs_parent_id", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
        Index(
            "ix_runs_finished_at",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
        ),
        UniqueConstraint("idempotency_key", name="uq_runs_idempotency_key"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="RESTRICT", name="fk_runs_dataset_id_datasets")
    )
    strategy_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("strategies.id", ondelete="RESTRICT", name="fk_runs_strategy_id_strategies")
    )
    mode: Mapped[RunMode] = mapped_column(run_mode_enum, server_default=text("'backtest'"))
    status: Mapped[RunStatus] = mapped_column(run_status_enum, server_default=text("'pending'"))
    initial_capital: Mapped[Decimal] = mapped_column(Money)
    config: Mapped[dict[str, Any]] = mapped_column(server_default=_empty_object)
    run_metadata: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=_empty_object
    )

    priority: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    run_after: Mapped[datetime] = mapped_column(server_default=_now)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer, server_default=text("3"))
    locked_by: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=_now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    final_value: Mapped[Decimal | None] = mapped_column(Money)
    total_return: Mapped[Decimal | None] = mapped_column(Ratio)
    sharpe_ratio: Mapped[Decimal | None] = mapped_column(Ratio)
    max_drawdown: Mapped[Decimal | None] = mapped_column(Ratio)
    win_rate: Mapped[Decimal | None] = mapped_column(Ratio)
    total_trades: Mapped[int | None] = mapped_column(Integer)
    winning_trades: Mapped[int | None] = mapped_column(Integer)
    losing_trades: Mapped[int | None] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # A sweep's child points at its parent (docs/contract.md, Sweeps).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_runs_parent_id_runs")
    )

    dataset: Mapped[Dataset] = relationship(back_populates="runs")
    strategy: Mapped[Strategy] = relationship(back_populates="runs")
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )
    events: Mapped[list[Event]] = relationship(
        back_populates="run",
        cascade="all, delete-orphan",
        passive_deletes=True,
        primaryjoin="Run.id == foreign(Event.run_id)",
    )


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("run_id", "filename", name="uq_artifacts_run_filename"),
        CheckConstraint("size_bytes >= 0", name="size_nonnegative"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256_format"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE", name="fk_artifacts_run_id_runs")
    )
    kind: Mapped[ArtifactKind] = mapped_column(artifact_kind_enum)
    filename: Mapped[str] = mapped_column(String(255))
    storage_path: Mapped[str] = mapped_column(Text)
    mime_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=_now)

    run: Mapped[Run] = relationship(back_populates="artifacts")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("jsonb_typeof(payload) = 'object'", name="payload_object"),
        Index("ix_events_run_timestamp", "run_id", "timestamp"),
        Index(
            "ix_events_payload",
            "payload",
            postgresql_using="gin",
            # not the events every run writes on its way to success (migration 0016)
            postgresql_where=text(
                "event_type NOT IN ('trade_entry', 'trade_exit', 'claimed', 'completed',"
                " 'dataset_loaded', 'simulation_started', 'metrics')"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    # Checked and cascaded per statement by triggers, not by a foreign key (migration 0017).
    run_id: Mapped[uuid.UUID] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[datetime] = mapped_column(server_default=_now)
    payload: Mapped[dict[str, Any]] = mapped_column(server_default=_empty_object)
    created_at: Mapped[datetime] = mapped_column(server_default=_now)

    run: Mapped[Run] = relationship(
        back_populates="events", primaryjoin="Run.id == foreign(Event.run_id)"
    )


class ApiKey(Base):
    """A key of the HTTP API: only its SHA-256 is stored; `prefix` lets people recognise it."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        CheckConstraint("scope IN ('read', 'write')", name="scope_known"),
        CheckConstraint("key_hash ~ '^[0-9a-f]{64}$'", name="key_hash_format"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=_now)
    revoked_at: Mapped[datetime | None]
