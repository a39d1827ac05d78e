"""POST /runs refuses at once what a worker would fail at once: an unknown dataset or
strategy, invalid parameters after `config.params`, an unknown or bad config key (a typo such
as `commision`), an unknown symbol. The check is the worker's own (`validate_inputs`), on the
same rows; the SQL path is unchanged (there the worker fails the run with the same error)."""

from __future__ import annotations

import uuid

import asyncpg

from worker.api import queries
from worker.api.problems import Problem
from worker.pipeline.inputs import validate_request
from worker.queue.handler import PermanentRunError
from worker.schemas import RunCreate


def _missing(field: str, value: uuid.UUID) -> Problem:
    return Problem(
        422,
        f"no {field.removesuffix('_id')} with id {value}",
        slug="unknown-reference",
        errors=[{"loc": ["body", field], "message": "does not exist", "type": "not_found"}],
    )


async def check_run(pool: asyncpg.Pool, spec: RunCreate) -> None:
    row = await queries.run_inputs(pool, spec.dataset_id, spec.strategy_id)
    if not row["dataset_found"]:
        raise _missing("dataset_id", spec.dataset_id)
    if not row["strategy_found"]:
        raise _missing("strategy_id", spec.strategy_id)
    try:
        validate_request(spec, dict(row))
    except PermanentRunError as error:
        raise Problem(
            422, error.message, slug=error.type.replace("_", "-"), **error.detail
        ) from None


def missing_reference(constraint: str | None, spec: RunCreate) -> Problem:
    """The foreign key that refused an insert (a row deleted after the check)."""
    field = "strategy_id" if constraint == "fk_runs_strategy_id_strategies" else "dataset_id"
    return _missing(field, getattr(spec, field))
