"""Walk-forward optimisation: on each fold, the grid is run on the train window, and its
best combination trades the test window that follows; the test windows, stitched with
the capital carried from one to the next, are the out-of-sample result.

Pure like the rest of the engine: a MarketData in, frames out. Fold windows are cut by
``worker.engine.folds``; a walk-forward sweep's children evaluate the grid on those windows
apart, and the parent ranks their chunks here instead of running each grid. Each test
window's signal is computed over its train window and itself, so indicators are
warm when it starts (a signal only uses bars up to its own, so nothing is looked ahead).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from worker.engine import metrics as mx
from worker.engine.drawdowns import drawdown_curve
from worker.engine.folds import (
    ChunkResult,
    Window,
    by_window,
    optimisation_windows,
    run_folds,
    span,
    window_bars,
)
from worker.engine.frames import buy_and_hold_curve, equity_frame, trades_frame
from worker.engine.grid import GridOutcome, grid_combinations, rank, run_grid
from worker.engine.market import MarketData
from worker.engine.metrics import Metric
from worker.engine.params import RunConfig, WalkForwardConfig
from worker.engine.return_metrics import finite
from worker.engine.simulate import Simulation, simulate
from worker.engine.strategies import Strategy

Stages = Callable[[str, float], None]
#: The grid optimised on window ``w`` (its bars given), reporting progress.
Optimise = Callable[[int, MarketData, Stages], GridOutcome]


@dataclass(frozen=True)
class WalkForward:
    folds: pl.DataFrame  # one row per fold: windows, best parameters, in/out-of-sample metric
    equity: pl.DataFrame  # stitched out-of-sample equity (as a single run's equity frame)
    trades: pl.DataFrame
    metrics: dict[str, Metric]  # of the stitched out-of-sample curve
    in_sample: pl.Series  # equity of the grid optimised on the out-of-sample span itself
    buy_and_hold: pl.Series  # on the out-of-sample bars
    best_params: dict[str, Any]  # the last fold's: what to trade next
    strategy: Strategy
    summary: dict[str, Any]


def _trade_window(
    md: MarketData,
    strategy: Strategy,
    cfg: RunConfig,
    warm: tuple[int, int],
    test: tuple[int, int],
    *,
    capital: float,
    ppy: float,
) -> tuple[MarketData, Simulation]:
    """``strategy`` over bars ``test``, its signal computed from ``warm[0]`` on."""
    md_warm = window_bars(md, [span(md.grid_ts, warm[0], test[1])])
    in_test = (md_warm.ts >= int(md.grid_ts[test[0]])).astype(np.bool_)
    signal = strategy.signal(md_warm)[in_test]
    long_level, short_level = (
        None if x is None else x[in_test] for x in strategy.entry_levels(md_warm)
    )
    md_test = MarketData.from_frame(md_warm.frame.filter(pl.Series(in_test)))
    size = cfg.position_size or strategy.default_position_size(md_test.n_symbols)
    levels = (long_level, short_level)
    sim = simulate(md_test, signal, cfg, capital=capital, size=size, ppy=ppy, levels=levels)
    return md_test, sim


def _ts(md: MarketData, i: int) -> Any:
    return pl.Series([int(md.grid_ts[i])]).cast(pl.Datetime("us", "UTC"))[0]


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return finite(sum(known) / len(known)) if known else None


def run_walk_forward(
    md: MarketData,
    base_params: dict[str, Any],
    cfg: RunConfig,
    *,
    capital: float,
    ppy: float,
    stages: Stages,
    check: Callable[[], None],
    chunks: Sequence[ChunkResult] | None = None,
    threads: int | None = None,
) -> WalkForward:
    """``chunks``: a walk-forward sweep's children's evaluations of its optimisation
    windows; each window's grid is then ranked from them rather than run."""
    wf = cfg.walk_forward
    assert wf is not None
    inner = cfg.model_copy(update={"walk_forward": None})
    folds = run_folds(md, wf)
    windows = optimisation_windows(md.grid_ts, folds)
    optimise = _optimiser(
        base_params,
        inner,
        windows,
        capital=capital,
        ppy=ppy,
        check=check,
        chunks=chunks,
        threads=threads,
    )
    metric = cfg.grid_metric
    rows: list[dict[str, Any]] = []
    equities: list[pl.DataFrame] = []
    trades: list[pl.DataFrame] = []
    exposure_bars = 0.0
    equity_now = capital
    strategy: Strategy | None = None
    best: dict[str, Any] = {}
    for k, fold in enumerate(folds):
        check()
        md_train = window_bars(md, windows[k].ranges)

        def fold_progress(stage: str, pct: float, k: int = k) -> None:
            stages(stage, (k + pct) / (len(folds) + 1))

        outcome = optimise(k, md_train, fold_progress)
        strategy, best = outcome.best_strategy, outcome.best_params
        md_test, sim = _trade_window(
            md, strategy, inner, fold.train, fold.test, capital=equity_now, ppy=ppy
        )
        equities.append(equity_frame(md_test, sim))
        trades.append(trades_frame(md_test, sim))
        exposure_bars += float(sim.metrics["exposure"] or 0.0) * md_test.n_times
        rows.append(
            {
                "fold": k + 1,
                "train_start": _ts(md, fold.train[0]),
                "train_end": _ts(md, fold.train[1] - 1),
                "test_start": _ts(md, fold.test[0]),
                "test_end": _ts(md, fold.test[1] - 1),
                "train_bars": fold.train[1] - fold.train[0],
                "test_bars": fold.test[1] - fold.test[0],
                "params": json.dumps(best, sort_keys=True, default=str),
                "in_sample": outcome.leaderboard[metric][0],
                "out_of_sample": sim.metrics[metric],
                "test_return": sim.metrics["total_return"],
            }
        )
        equity_now = float(sim.curve.equity[-1])
    assert strategy is not None
    stitched = pl.concat(equities)
    curve = stitched["equity"].to_numpy()
    stitched = stitched.with_columns(drawdown=pl.Series(drawdown_curve(curve, capital)))
    all_trades = pl.concat(trades)
    md_oos = window_bars(md, windows[-1].ranges)
    values = mx.compute_all(
        equity=curve,
        initial=capital,
        ppy=ppy,
        pnl=all_trades["pnl"].to_numpy(),
        trade_returns=all_trades["return"].to_numpy(),
        fees=all_trades["fees"].to_numpy(),
        exposure=exposure_bars / curve.shape[0],
        first_close=md_oos.close[md_oos.starts],
        last_close=md_oos.close[md_oos.ends - 1],
        risk_free_rate=cfg.risk_free_rate,
    )
    in_sample, optimum = _in_sample_optimum(
        md_oos, optimise(len(folds), md_oos, _quiet), inner, capital=capital, ppy=ppy
    )
    stages("grid", 1.0)
    folds_frame = pl.DataFrame(rows, infer_schema_length=None)
    summary = _summary(folds_frame, metric, values, optimum, wf)
    return WalkForward(
        folds_frame,
        stitched,
        all_trades,
        values,
        in_sample,
        buy_and_hold_curve(md_oos, capital),
        best,
        strategy,
        summary,
    )


def _optimiser(
    base_params: dict[str, Any],
    cfg: RunConfig,
    windows: list[Window],
    *,
    capital: float,
    ppy: float,
    check: Callable[[], None],
    chunks: Sequence[ChunkResult] | None,
    threads: int | None,
) -> Optimise:
    """The grid on a window: run there, or ranked from the chunks a sweep's children
    evaluated there (the same evaluation, so the same leaderboard)."""
    if chunks is None:

        def run(_w: int, md_w: MarketData, progress: Stages) -> GridOutcome:
            return run_grid(
                md_w,
                base_params,
                cfg,
                capital=capital,
                ppy=ppy,
                stages=progress,
                check=check,
                threads=threads,
            )

        return run
    from worker.engine.sweep import in_grid_order  # sweep imports the engine's api

    combinations = grid_combinations(base_params, cfg)
    evaluations = [in_grid_order(combinations, e) for e in by_window(chunks, windows)]

    def ranked(w: int, md_w: MarketData, _progress: Stages) -> GridOutcome:
        check()
        return rank(combinations, evaluations[w], cfg, bars=md_w.n_times, ppy=ppy, threads=threads)

    return ranked


def _in_sample_optimum(
    md: MarketData, outcome: GridOutcome, cfg: RunConfig, *, capital: float, ppy: float
) -> tuple[pl.Series, dict[str, Any]]:
    """The grid optimised on the out-of-sample bars themselves, and its curve there: what
    the same grid promises when it is judged on the data it was chosen on."""
    strategy = outcome.best_strategy
    size = cfg.position_size or strategy.default_position_size(md.n_symbols)
    signal, levels = strategy.signal(md), strategy.entry_levels(md)
    sim = simulate(md, signal, cfg, capital=capital, size=size, ppy=ppy, levels=levels)
    metric = cfg.grid_metric
    optimum = {
        "params": outcome.best_params,
        metric: sim.metrics[metric],
        "total_return": sim.metrics["total_return"],
    }
    return pl.Series("in_sample", sim.curve.equity, dtype=pl.Float64), optimum


def _quiet(stage: str, pct: float) -> None:
    return None


def _summary(
    folds: pl.DataFrame,
    metric: str,
    oos: dict[str, Metric],
    optimum: dict[str, Any],
    wf: WalkForwardConfig,
) -> dict[str, Any]:
    """Degradation from in-sample to out-of-sample, per fold and over the whole span."""
    is_mean = _mean(folds["in_sample"].to_list())
    oos_mean = _mean(folds["out_of_sample"].to_list())
    efficiency = None
    if is_mean is not None and oos_mean is not None and is_mean > 0:
        efficiency = finite(oos_mean / is_mean)
    records = folds.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S%z"))
    return {
        "config": wf.model_dump(mode="json"),
        "metric": metric,
        "folds": folds.height,
        "in_sample_mean": is_mean,
        "out_of_sample_mean": oos_mean,
        "efficiency": efficiency,
        "out_of_sample": {metric: oos.get(metric), "total_return": oos.get("total_return")},
        "in_sample_optimum": optimum,
        "fold_table": [
            {k: _json_number(v) for k, v in r.items()} for r in records.iter_rows(named=True)
        ],
    }


def _json_number(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
