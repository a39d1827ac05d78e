"""api_keys for the HTTP API; runs.idempotency_key

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

`api_keys` holds only a SHA-256 of each key (keys are 256 random bits, so a slow hash adds
nothing) and a short prefix to recognise it by. Revoking or deleting a key sends
`NOTIFY api_key_revoked` (the key's id), so every API process drops its cached keys at once,
whoever revoked it (the CLI or plain SQL).

`runs.idempotency_key` is the `Idempotency-Key` of the request that created the run (HTTP, or
any SQL client that wants the same guarantee: `ON CONFLICT ON CONSTRAINT
uq_runs_idempotency_key DO NOTHING`). NULL for runs created without one.

`run_completed_payload(runs)` is the `run_completed` payload as a function, so the trigger and
the API (a client that connects after the run ended) build it from one definition.
`ix_runs_created_at_id` serves the API's newest-first cursor paging of runs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PAYLOAD_FUNCTION = """
CREATE FUNCTION run_completed_payload(r runs) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'run_id', r.id,
        'status', r.status,
        'finished_at', r.finished_at,
        'total_return', r.total_return,
        'sharpe_ratio', r.sharpe_ratio,
        'max_drawdown', r.max_drawdown,
        'total_trades', r.total_trades,
        'error_type', r.error ->> 'type',
        'error_message', left(r.error ->> 'message', 500)
    ))
$$
"""

NOTIFY_WITH_FUNCTION = """
CREATE OR REPLACE FUNCTION runs_notify_completed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('run_completed', run_completed_payload(NEW)::text);
    RETURN NULL;
END $$
"""

NOTIFY_INLINE = """
CREATE OR REPLACE FUNCTION runs_notify_completed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('run_completed', jsonb_strip_nulls(jsonb_build_object(
        'run_id', NEW.id,
        'status', NEW.status,
        'finished_at', NEW.finished_at,
        'total_return', NEW.total_return,
        'sharpe_ratio', NEW.sharpe_ratio,
        'max_drawdown', NEW.max_drawdown,
        'total_trades', NEW.total_trades,
        'error_type', NEW.error ->> 'type',
        'error_message', left(NEW.error ->> 'message', 500)
    ))::text);
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column(
            "id", UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write')", name=op.f("ck_api_keys_scope_known")),
        sa.CheckConstraint("key_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_api_keys_key_hash_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.add_column("runs", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.create_unique_constraint("uq_runs_idempotency_key", "runs", ["idempotency_key"])
    op.create_index("ix_runs_created_at_id", "runs", ["created_at", "id"])
    op.execute(PAYLOAD_FUNCTION)
    op.execute(NOTIFY_WITH_FUNCTION)
    op.execute(
        """
        CREATE FUNCTION api_keys_notify_revoked() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('api_key_revoked', OLD.id::text);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER api_keys_notify_revoked
        AFTER UPDATE OF revoked_at, scope, key_hash OR DELETE ON api_keys
        FOR EACH ROW EXECUTE FUNCTION api_keys_notify_revoked()
        """
    )


def downgrade() -> None:
    op.execute(NOTIFY_INLINE)
    op.execute("DROP FUNCTION run_completed_payload(runs)")
    op.drop_index("ix_runs_created_at_id", table_name="runs")
    op.drop_constraint("uq_runs_idempotency_key", "runs", type_="unique")
    op.drop_column("runs", "idempotency_key")
    op.drop_table("api_keys")
    op.execute("DROP FUNCTION api_keys_notify_revoked()")
