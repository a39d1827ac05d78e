"""POST /runs refuses at once what a worker would fail at once: an unknown dataset or
strategy, invalid parameters after `config.params`, an unknown or bad config key (a typo such
as `commision`), an unknown symbol. The check is the worker's own (`validate_inputs`), on the
same rows; the SQL path is unchanged (there the worker fails the run with the same error).

Those rows are read once per (dataset, strategy) every `INPUTS_CACHE_SECONDS`, not on every
POST: they do not change (a strategy is a new row per name and version, an import a new
dataset), and a pair deleted meanwhile is refused by the INSERT's foreign key. Only pairs
that exist are kept, so a dataset or strategy created a moment ago is found at once."""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg

from worker.api import queries
from worker.api.problems import Problem
from worker.pipeline.inputs import validate_request
from worker.queue.handler import PermanentRunError
from worker.schemas import RunCreate

INPUTS_CACHE_SECONDS = 10.0
INPUTS_CACHE_MAX = 10_000


class InputsCache:
    def __init__(self) -> None:
        self._rows: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, dict[str, Any]]] = {}

    async def run_inputs(
        self, pool: asyncpg.Pool, dataset_id: uuid.UUID, strategy_id: uuid.UUID
    ) -> dict[str, Any]:
        key = (dataset_id, strategy_id)
        now = time.monotonic()
        hit = self._rows.get(key)
        if hit is not None and now - hit[0] < INPUTS_CACHE_SECONDS:
            return hit[1]
        row = await queries.run_inputs(pool, dataset_id, strategy_id)
        if row["dataset_found"] and row["strategy_found"]:
            if len(self._rows) >= INPUTS_CACHE_MAX:
                self._rows.clear()
            self._rows[key] = (now, row)
        else:
            self._rows.pop(key, None)
        return row


def _missing(field: str, value: uuid.UUID) -> Problem:
    return Problem(
        422,
        f"no {field.removesuffix('_id')} with id {value}",
        slug="unknown-reference",
        errors=[{"loc": ["body", field], "message": "does not exist", "type": "not_found"}],
    )


async def check_run(pool: asyncpg.Pool, inputs: InputsCache, spec: RunCreate) -> None:
    row = await inputs.run_inputs(pool, spec.dataset_id, spec.strategy_id)
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
