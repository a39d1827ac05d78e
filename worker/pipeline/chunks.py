"""A sweep chunk's evaluation as stored in `sweep_chunks` (by the completer, with the
child's success), and back.

Rows (parameters and metrics per combination) are JSON; the period sums are float64 and
int64 arrays, little-endian. Both round-trip exactly (JSON writes a float's shortest repr),
so the parent ranks the very numbers its children computed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import numpy as np
from pydantic import ValidationError

from worker import jsonsafe
from worker.engine.folds import ChunkResult, Window, window_of
from worker.engine.grid import Evaluation
from worker.engine.params import SweepWindow, format_errors
from worker.engine.period_sums import PeriodSums
from worker.pipeline.sql import load
from worker.queue.handler import ChunkRecord, PermanentRunError


def encode(evaluation: Evaluation, index: int = 0) -> ChunkRecord:
    """Child `index`'s evaluation as its row (written by the completer with its success)."""
    sums = evaluation.sums
    counts = sums[0].counts.astype("<i8")
    powers = np.stack([s.powers for s in sums]).astype("<f8")
    return ChunkRecord(
        index=index,
        combinations=len(evaluation.rows),
        partitions=int(counts.shape[0]),
        rows=jsonsafe.dumps(evaluation.rows).encode(),
        counts=counts.tobytes(),
        powers=powers.tobytes(),
    )


def decode(
    combinations: int, partitions: int, rows: bytes, counts: bytes, powers: bytes
) -> Evaluation:
    decoded: list[dict[str, Any]] = json.loads(rows)
    count_array = np.frombuffer(counts, dtype="<i8").astype(np.int64)
    power_array = np.frombuffer(powers, dtype="<f8").astype(np.float64)
    power_array = power_array.reshape(combinations, 4, partitions)
    if len(decoded) != combinations or count_array.shape[0] != partitions:
        raise ValueError("a sweep chunk's rows and sums do not match its counts")
    sums = [PeriodSums(count_array.copy(), power_array[i].copy()) for i in range(combinations)]
    return Evaluation(decoded, sums)


async def children_results(pool: asyncpg.Pool, parent_id: uuid.UUID) -> list[ChunkResult] | None:
    """The parent's chunks in order, or None when it has no children yet (it has not
    fanned out). A child that did not succeed is a clear, permanent error (the database
    fans a sweep in only once every child has succeeded, so this guards the invariant)."""
    rows = await pool.fetch(load("sweep_children"), parent_id)
    if not rows:
        return None
    unfinished = [r for r in rows if r["status"] != "succeeded" or r["rows"] is None]
    if unfinished:
        first = unfinished[0]
        raise PermanentRunError(
            "sweep_incomplete",
            f"{len(unfinished)} of the sweep's {len(rows)} children did not succeed "
            f"(run {first['id']} is {first['status']}); retry the sweep to run them again",
            {"children": len(rows), "unfinished": len(unfinished), "example": str(first["id"])},
        )
    return [
        ChunkResult(
            _window(r["window"], r["id"]),
            decode(r["combinations"], r["partitions"], r["rows"], r["counts"], r["powers"]),
        )
        for r in rows
    ]


def _window(text: str | None, child: uuid.UUID) -> Window | None:
    if text is None:
        return None
    try:
        return window_of(SweepWindow.model_validate_json(text))
    except ValidationError as error:
        message, items = format_errors(error, "sweep_chunk.window")
        raise PermanentRunError(
            "invalid_result",
            f"child {child} of the sweep has an unreadable window: {message}",
            {"child_run_id": str(child), "errors": items},
        ) from None
