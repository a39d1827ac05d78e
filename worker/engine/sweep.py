"""A sweep: a grid cut into chunks that separate runs evaluate, joined back in order.

Pure like the rest of the engine. ``split`` cuts the grid's valid combinations, in the
order a single grid run evaluates them, into chunks of at most ``chunk_size``; ``plan``
gives every child's chunk: for a walk-forward, each chunk once per optimisation window
(each fold's train window, then the out-of-sample span), so a fold × chunk is just a chunk
with its own window. ``evaluate_chunk`` is what a child computes (each combination's
metrics and period sums on its window, exactly as the grid computes them); the parent
passes its children's ``ChunkResult``\\ s to ``simulate_run(..., chunks=…)``, which ranks
them as the single run ranks its own grids and gives the single run's result.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from worker.engine.api import RunSpec
from worker.engine.errors import EngineInputError
from worker.engine.folds import Window, optimisation_windows, run_folds, window_bars, window_of
from worker.engine.grid import (
    Combinations,
    Evaluation,
    chunk_strategies,
    evaluate,
    grid_combinations,
)
from worker.engine.grid import _cell as grid_cell
from worker.engine.run_bars import run_market
from worker.engine.stages import Cancel, Progress, Stages
from worker.engine.timeframes import periods_per_year


@dataclass(frozen=True)
class ChildChunk:
    """One child of a sweep: its place, its combinations, and its window (None: the run's)."""

    index: int
    combinations: list[dict[str, Any]]
    window: Window | None = None


def split(spec: RunSpec) -> tuple[list[list[dict[str, Any]]], int]:
    """The chunks of a sweep's valid combinations (about equal, at most ``chunk_size``
    each), and the grid's total including the combinations skipped as invalid.

    Chunks are cut in tiles of the grid, not in its order: in the grid's order a chunk spans
    one or two values of the outer parameters and every value of the last one, so each child
    would compute an indicator for every value of that parameter, which the one run computes
    once for all of them (on an SMA grid of 22 × 46, chunks of 50: 48 averages per child, 14
    in 7 × 7 tiles). Tiles hold ``isqrt(chunk_size)`` values of the last parameter; within a
    chunk the combinations keep the grid's order. Which chunk holds a combination changes
    only which child computes it: the fan-in puts every row back in the grid's order
    (``in_grid_order``), so the result is the one run's."""
    cfg = spec.config
    assert cfg.sweep is not None
    combinations = grid_combinations(spec.strategy_params, cfg)
    valid = [combo for combo, _ in combinations.valid]
    order = _tiled(valid, combinations.keys, math.isqrt(cfg.sweep.chunk_size))
    count = math.ceil(len(valid) / cfg.sweep.chunk_size)
    size, longer = divmod(len(valid), count)  # the first `longer` chunks hold one more
    bounds = [i * size + min(i, longer) for i in range(count + 1)]
    chunks = [[valid[i] for i in sorted(order[lo:hi])] for lo, hi in itertools.pairwise(bounds)]
    return chunks, len(valid) + len(combinations.skipped)


def _tiled(valid: list[dict[str, Any]], keys: list[str], tile: int) -> list[int]:
    """Positions of ``valid`` (in the grid's order) visited tile by tile: by blocks of
    ``tile`` values of the last parameter, then in the grid's order. A parameter's values
    are numbered by first appearance, which is their sorted order unless invalid
    combinations hide some."""
    if len(keys) < 2 or tile < 2:
        return list(range(len(valid)))
    last = keys[-1]
    numbers: dict[str, int] = {}
    block = [numbers.setdefault(_value_key(c[last]), len(numbers)) // tile for c in valid]
    return sorted(range(len(valid)), key=lambda i: (block[i], i))


def in_grid_order(combinations: Combinations, evaluation: Evaluation) -> Evaluation:
    """A sweep's joined chunks with their rows in the grid's order, as the one run has
    them (``split`` cuts tiles); matched by each row's parameters, so chunks cut by any
    worker version join right, and rows that are not the grid's are a clear error."""
    keys = combinations.keys
    position = {
        tuple(_value_key(grid_cell(combo[k])) for k in keys): i
        for i, (combo, _) in enumerate(combinations.valid)
    }
    slots: list[int | None] = [None] * len(position)
    for n, row in enumerate(evaluation.rows):
        i = position.get(tuple(_value_key(row.get(k)) for k in keys))
        if i is None or slots[i] is not None:
            raise EngineInputError(
                "the sweep's chunks do not hold the grid's combinations once each (e.g. "
                f"{ {k: row.get(k) for k in keys} }); insert the run again",
                type="invalid_result",
                detail={"params": {k: row.get(k) for k in keys}},
            )
        slots[i] = n
    if any(n is None for n in slots):
        raise EngineInputError(
            f"the sweep's chunks hold {len(evaluation.rows)} of the grid's "
            f"{len(slots)} combinations; insert the run again",
            type="invalid_result",
            detail={"evaluated": len(evaluation.rows), "combinations": len(slots)},
        )
    picked = [n for n in slots if n is not None]
    return Evaluation([evaluation.rows[n] for n in picked], [evaluation.sums[n] for n in picked])


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def plan(
    spec: RunSpec, bars: pl.DataFrame | None = None, *, windowed: bool = False
) -> list[ChildChunk]:
    """Every child of the sweep, in index order. A walk-forward sweep needs its ``bars``
    (its folds are cut on their timeline): window ``w``'s chunk ``c`` is child
    ``w × chunks + c``."""
    combos, _total = split(spec)
    if spec.config.walk_forward is None:
        return [ChildChunk(i, chunk) for i, chunk in enumerate(combos)]
    assert bars is not None
    md, _benchmark = run_market(bars, spec.config, windowed=windowed)
    windows = optimisation_windows(md.grid_ts, run_folds(md, spec.config.walk_forward))
    return [
        ChildChunk(w * len(combos) + c, chunk, window)
        for w, window in enumerate(windows)
        for c, chunk in enumerate(combos)
    ]


def evaluate_chunk(
    bars: pl.DataFrame,
    spec: RunSpec,
    *,
    timeframe: str,
    windowed: bool = False,
    progress: Progress | None = None,
    should_cancel: Cancel | None = None,
    threads: int | None = None,
) -> Evaluation:
    """A child's work: the metrics and period sums of its chunk's combinations, on its
    window's bars when it has one (as the walk-forward cuts them from the run's bars)."""
    cfg, capital = spec.config, spec.initial_capital
    chunk = cfg.sweep_chunk
    assert chunk is not None
    stages = Stages(progress, should_cancel)
    stages.check()
    ppy = cfg.periods_per_year or periods_per_year(timeframe, cfg.calendar)
    md, _benchmark = run_market(bars, cfg, windowed=windowed)
    if chunk.window is not None:
        md = window_bars(md, window_of(chunk.window).ranges)
        if md.n == 0:
            raise EngineInputError(
                "sweep_chunk.window holds none of the run's bars",
                type="empty_window",
                detail={"fold": chunk.window.fold},
            )
    valid = chunk_strategies(spec.strategy_params, cfg, chunk.combinations)
    return evaluate(
        md,
        valid,
        cfg,
        capital=capital,
        ppy=ppy,
        stages=stages.report,
        check=stages.check,
        threads=threads,
    )
