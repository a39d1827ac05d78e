"""A sweep's two steps on the worker: the parent's fan-out, and a child's chunk.

A parent (`grid` and `sweep` in its config) is split on its first claim: `fan_out` cuts the
grid's valid combinations into chunks (a walk-forward's: each chunk once per optimisation
window, cut on the run's bars) and returns the children for the queue to insert
(`worker.queue.handler.FanOut`; the run then waits). A child (`sweep_chunk`, set here)
evaluates its combinations and succeeds with its best combination's metrics and the chunk
(`chunks.encode`), which the completer stores in the same transaction. The fan-in is the
runner's normal path with the children's chunks (`chunks.children_results`): the database
makes the parent pending again once its last child has finished (migration 0010).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from worker import jsonsafe
from worker.bounds import MAX_INPUT_BYTES
from worker.engine.api import ENGINE_VERSION
from worker.engine.errors import EngineInputError
from worker.engine.folds import window_config
from worker.engine.grid import LOWER_IS_BETTER, Evaluation
from worker.engine.metrics import METRIC_NAMES
from worker.engine.sweep import ChildChunk, plan
from worker.pipeline import chunks
from worker.pipeline.inputs import RunInputs
from worker.queue.handler import ChildRun, FanOut, PermanentRunError, RunOutcome

# Keys of the parent's config a child does not take: the split itself, the walk-forward (a
# child evaluates one of its windows, named in `sweep_chunk.window`), and what only the
# parent's report uses (a child writes no artifacts).
PARENT_ONLY_KEYS = frozenset({"sweep", "walk_forward", "artifacts", "label", "notes", "tags"})

#: Most children one walk-forward sweep may have (folds + 1 windows × chunks per window).
MAX_WALK_FORWARD_CHILDREN = 10_000


def fan_out(inputs: RunInputs, bars: pl.DataFrame | None = None) -> FanOut:
    """The parent's children (CPU: every combination is validated; a thread's work).
    ``bars``: the run's, for a walk-forward sweep (its folds are cut on them)."""
    try:
        children = plan(inputs.spec, bars, windowed=True)
    except EngineInputError as error:
        raise PermanentRunError(error.type, error.message, error.detail) from None
    cfg = inputs.spec.config
    if cfg.walk_forward is not None and len(children) > MAX_WALK_FORWARD_CHILDREN:
        raise PermanentRunError(
            "invalid_config",
            f"the walk-forward sweep would have {len(children):,} children (each chunk of "
            f"the grid once per fold and once for the out-of-sample span), more than "
            f"{MAX_WALK_FORWARD_CHILDREN:,}: raise sweep.chunk_size or lengthen "
            f"walk_forward.step",
            {"children": len(children), "max_children": MAX_WALK_FORWARD_CHILDREN},
        )
    base = {k: v for k, v in inputs.job.config.items() if k not in PARENT_ONLY_KEYS}
    return FanOut(tuple(_child(base, chunk) for chunk in children))


def _child(base: dict[str, Any], chunk: ChildChunk) -> ChildRun:
    own: dict[str, Any] = {"index": chunk.index, "combinations": chunk.combinations}
    if chunk.window is not None:
        own["window"] = window_config(chunk.window)
    config_json = jsonsafe.dumps({**base, "sweep_chunk": own})
    size = len(config_json.encode())
    if size > MAX_INPUT_BYTES:
        raise PermanentRunError(
            "invalid_config",
            f"child {chunk.index} of the sweep would carry a config of {size:,} bytes, more "
            f"than the {MAX_INPUT_BYTES:,} a run's config may hold: lower sweep.chunk_size"
            + (" (or use fewer folds)" if chunk.window is not None else ""),
            {"child_index": chunk.index, "bytes": size, "max_bytes": MAX_INPUT_BYTES},
        )
    return ChildRun(
        config_json=config_json, index=chunk.index, combinations=len(chunk.combinations)
    )


def chunk_outcome(inputs: RunInputs, evaluation: Evaluation, seconds: float) -> RunOutcome:
    """A child's own row, its best combination's metrics, and its chunk (`sweep_chunks`),
    written together by the completer."""
    metric = inputs.spec.config.grid_metric
    best = _best(evaluation.rows, metric)
    metrics = {name: best.get(name) for name in METRIC_NAMES}
    chunk = inputs.spec.config.sweep_chunk
    assert chunk is not None
    keys = sorted(inputs.spec.config.grid or {})
    return RunOutcome(
        metrics=metrics,
        metadata={
            "engine_version": ENGINE_VERSION,
            "dataset_hash": inputs.dataset_hash,
            "best_params": {k: best.get(k) for k in keys},
            "timings": {"evaluate": seconds},
        },
        chunk=chunks.encode(evaluation, chunk.index),
    )


def _best(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    lower = metric in LOWER_IS_BETTER
    ranked = [r for r in rows if isinstance(r.get(metric), int | float)]
    if not ranked:
        return rows[0]
    return min(ranked, key=lambda r: r[metric]) if lower else max(ranked, key=lambda r: r[metric])
