"""A sweep's two steps on the worker: the parent's fan-out, and a child's chunk.

A parent (`grid` and `sweep` in its config) is split on its first claim: `fan_out` cuts the
grid's valid combinations into chunks and returns the children for the queue to insert
(`worker.queue.handler.FanOut`; the run then waits). A child (`sweep_chunk`, set here)
evaluates its combinations, stores them (`chunks.store`) and succeeds with its best
combination's metrics. The fan-in is the runner's normal path with the joined chunks
(`chunks.children_evaluation`): the database makes the parent pending again once its last
child has finished (migration 0010).
"""

from __future__ import annotations

from typing import Any

from worker import jsonsafe
from worker.engine.api import ENGINE_VERSION
from worker.engine.errors import EngineInputError
from worker.engine.grid import LOWER_IS_BETTER, Evaluation
from worker.engine.metrics import METRIC_NAMES
from worker.engine.sweep import split
from worker.pipeline.inputs import RunInputs
from worker.queue.handler import ChildRun, FanOut, PermanentRunError, RunOutcome

# Keys of the parent's config a child does not take: the split itself, and what only the
# parent's report uses (a child writes no artifacts).
PARENT_ONLY_KEYS = frozenset({"sweep", "artifacts", "label", "notes", "tags"})


def fan_out(inputs: RunInputs) -> FanOut:
    """The parent's children (CPU: every combination is validated; a thread's work)."""
    try:
        chunks, _total = split(inputs.spec)
    except EngineInputError as error:
        raise PermanentRunError(error.type, error.message, error.detail) from None
    base = {k: v for k, v in inputs.job.config.items() if k not in PARENT_ONLY_KEYS}
    return FanOut(
        tuple(
            ChildRun(
                config_json=jsonsafe.dumps(
                    {**base, "sweep_chunk": {"index": index, "combinations": combos}}
                ),
                index=index,
                combinations=len(combos),
            )
            for index, combos in enumerate(chunks)
        )
    )


def chunk_outcome(inputs: RunInputs, evaluation: Evaluation, seconds: float) -> RunOutcome:
    """A child's own row: its best combination's metrics (the chunk itself is stored apart)."""
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
    )


def _best(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    lower = metric in LOWER_IS_BETTER
    ranked = [r for r in rows if isinstance(r.get(metric), int | float)]
    if not ranked:
        return rows[0]
    return min(ranked, key=lambda r: r[metric]) if lower else max(ranked, key=lambda r: r[metric])
