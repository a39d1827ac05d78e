"""A sweep: a grid cut into chunks that separate runs evaluate, joined back in order.

Pure like the rest of the engine. ``split`` cuts the grid's valid combinations, in the
order a single grid run evaluates them, into chunks of at most ``chunk_size``;
``evaluate_chunk`` is what a child computes (each combination's metrics and period sums,
exactly as the grid computes them); the parent ranks the joined chunks with
``simulate_run(..., evaluation=…)``, which gives the single run's leaderboard and result.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import polars as pl

from worker.engine.api import Cancel, Progress, RunSpec, _Stages
from worker.engine.grid import (
    Evaluation,
    chunk_strategies,
    evaluate,
    grid_combinations,
)
from worker.engine.run_bars import market_data, prepare_bars
from worker.engine.timeframes import periods_per_year


def split(spec: RunSpec) -> tuple[list[list[dict[str, Any]]], int]:
    """The chunks of a sweep's valid combinations (about equal, at most ``chunk_size``
    each), and the grid's total including the combinations skipped as invalid."""
    cfg = spec.config
    assert cfg.sweep is not None
    combinations = grid_combinations(spec.strategy_params, cfg)
    valid = [combo for combo, _ in combinations.valid]
    count = math.ceil(len(valid) / cfg.sweep.chunk_size)
    size, longer = divmod(len(valid), count)  # the first `longer` chunks hold one more
    bounds = [i * size + min(i, longer) for i in range(count + 1)]
    chunks = [valid[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    return chunks, len(valid) + len(combinations.skipped)


def evaluate_chunk(
    bars: pl.DataFrame,
    spec: RunSpec,
    *,
    timeframe: str,
    windowed: bool = False,
    progress: Progress | None = None,
    should_cancel: Cancel | None = None,
) -> Evaluation:
    """A child's work: the metrics and period sums of its chunk's combinations."""
    cfg, capital = spec.config, spec.initial_capital
    assert cfg.sweep_chunk is not None
    stages = _Stages(progress, should_cancel)
    stages.check()
    ppy = cfg.periods_per_year or periods_per_year(timeframe, cfg.calendar)
    traded, _benchmark = prepare_bars(bars, cfg, windowed=windowed)
    md = market_data(traded)
    valid = chunk_strategies(spec.strategy_params, cfg, cfg.sweep_chunk.combinations)
    return evaluate(
        md, valid, cfg, capital=capital, ppy=ppy, stages=stages.report, check=stages.check
    )
