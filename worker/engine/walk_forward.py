"""Walk-forward optimisation: on each fold, the grid is run on the train window, and its
best combination trades the test window that follows; the test windows, stitched with
the capital carried from one to the next, are the out-of-sample result.

Pure like the rest of the engine: a MarketData in, frames out. Fold windows are cut on the
run's timeline (the union of its bars' timestamps), by bar counts or by calendar durations.
Each test window's signal is computed over its train window and itself, so indicators are
warm when it starts (a signal only uses bars up to its own, so nothing is looked ahead).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from worker.engine import metrics as mx
from worker.engine.drawdowns import drawdown_curve
from worker.engine.errors import EngineInputError
from worker.engine.frames import buy_and_hold_curve, equity_frame, trades_frame
from worker.engine.grid import run_grid
from worker.engine.market import I64, MarketData
from worker.engine.metrics import Metric
from worker.engine.params import DURATION, RunConfig, WalkForwardConfig
from worker.engine.return_metrics import finite
from worker.engine.simulate import Simulation, simulate
from worker.engine.strategies import Strategy

_POLARS_UNITS = {"min": "m", "h": "h", "d": "d", "w": "w", "mo": "mo", "y": "y"}


@dataclass(frozen=True)
class Fold:
    """Half-open index ranges on the timeline."""

    train: tuple[int, int]
    test: tuple[int, int]


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


def _offsets(start_us: int, window: str, multiples: list[int]) -> I64:
    """``start`` moved forward by ``window × k`` for each k, calendar-aware (polars)."""
    match = DURATION.match(window)
    assert match is not None
    count, unit = int(match[1]), _POLARS_UNITS[match[2]]
    start = pl.Series([start_us] * len(multiples)).cast(pl.Datetime("us", "UTC"))
    by = pl.Series([f"{count * k}{unit}" for k in multiples])
    moved = pl.DataFrame({"t": start, "by": by}).select(pl.col("t").dt.offset_by(pl.col("by")))
    out: I64 = moved["t"].dt.epoch("us").to_numpy().astype(np.int64)
    return out


def fold_windows(grid_ts: I64, wf: WalkForwardConfig) -> list[Fold]:
    """Folds while a train window ends before the last bar; the last test may be short."""
    n = int(grid_ts.shape[0])
    folds: list[Fold] = []
    k = 0
    while True:
        if isinstance(wf.train, int):
            assert isinstance(wf.test, int) and isinstance(wf.step_window, int)
            lo = k * wf.step_window
            train_lo, train_hi = (0 if wf.anchored else lo), lo + wf.train
            test_hi = min(train_hi + wf.test, n)
        else:
            assert isinstance(wf.test, str) and isinstance(wf.step_window, str)
            start = int(_offsets(int(grid_ts[0]), wf.step_window, [k])[0])
            train_end = int(_offsets(start, wf.train, [1])[0])
            test_end = int(_offsets(train_end, wf.test, [1])[0])
            ends = np.searchsorted(grid_ts, [start, train_end, test_end]).tolist()
            train_lo, train_hi, test_hi = (0 if wf.anchored else ends[0]), ends[1], ends[2]
        if train_hi >= n:
            break
        if folds and train_hi < folds[-1].test[1]:
            raise EngineInputError(
                "walk_forward.step is shorter than walk_forward.test: test windows would overlap",
                type="invalid_config",
                detail={"step": wf.step_window, "test": wf.test},
            )
        if train_hi - train_lo >= 2 and test_hi > train_hi:
            folds.append(Fold((train_lo, train_hi), (train_hi, test_hi)))
        k += 1
    return folds


def _window(md: MarketData, lo: int, hi: int) -> pl.DataFrame:
    ts = md.grid_ts
    end = int(ts[hi]) if hi < ts.shape[0] else int(ts[-1]) + 1
    stamp = pl.col("timestamp").dt.epoch("us")
    return md.frame.filter((stamp >= int(ts[lo])) & (stamp < end))


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
    frame = _window(md, warm[0], test[1])
    md_warm = MarketData.from_frame(frame)
    in_test = (md_warm.ts >= int(md.grid_ts[test[0]])).astype(np.bool_)
    signal = strategy.signal(md_warm)[in_test]
    md_test = MarketData.from_frame(frame.filter(pl.Series(in_test)))
    size = cfg.position_size or strategy.default_position_size(md_test.n_symbols)
    return md_test, simulate(md_test, signal, cfg, capital=capital, size=size, ppy=ppy)


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
    stages: Callable[[str, float], None],
    check: Callable[[], None],
) -> WalkForward:
    wf = cfg.walk_forward
    assert wf is not None
    inner = cfg.model_copy(update={"walk_forward": None})
    folds = fold_windows(md.grid_ts, wf)
    if not folds:
        raise EngineInputError(
            f"walk_forward: {md.n_times} bars are too few for one train window ({wf.train}) "
            f"followed by a test window",
            type="invalid_config",
            detail={"bars": md.n_times, "train": wf.train, "test": wf.test},
        )
    metric = cfg.grid_metric
    rows: list[dict[str, Any]] = []
    equities: list[pl.DataFrame] = []
    trades: list[pl.DataFrame] = []
    test_frames: list[pl.DataFrame] = []
    exposure_bars = 0.0
    equity_now = capital
    strategy: Strategy | None = None
    best: dict[str, Any] = {}
    for k, fold in enumerate(folds):
        check()
        md_train = MarketData.from_frame(_window(md, *fold.train))

        def fold_progress(stage: str, pct: float, k: int = k) -> None:
            stages(stage, (k + pct) / (len(folds) + 1))

        outcome = run_grid(
            md_train,
            base_params,
            inner,
            capital=capital,
            ppy=ppy,
            stages=fold_progress,
            check=check,
        )
        strategy, best = outcome.best_strategy, outcome.best_params
        md_test, sim = _trade_window(
            md, strategy, inner, fold.train, fold.test, capital=equity_now, ppy=ppy
        )
        equities.append(equity_frame(md_test, sim))
        trades.append(trades_frame(md_test, sim))
        test_frames.append(md_test.frame)
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
    md_oos = MarketData.from_frame(pl.concat(test_frames).sort("symbol", "timestamp"))
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
        md_oos, base_params, inner, capital=capital, ppy=ppy, check=check
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


def _in_sample_optimum(
    md: MarketData,
    base_params: dict[str, Any],
    cfg: RunConfig,
    *,
    capital: float,
    ppy: float,
    check: Callable[[], None],
) -> tuple[pl.Series, dict[str, Any]]:
    """The grid optimised on the out-of-sample bars themselves, and its curve there: what
    the same grid promises when it is judged on the data it was chosen on."""
    outcome = run_grid(md, base_params, cfg, capital=capital, ppy=ppy, stages=_quiet, check=check)
    strategy = outcome.best_strategy
    size = cfg.position_size or strategy.default_position_size(md.n_symbols)
    sim = simulate(md, strategy.signal(md), cfg, capital=capital, size=size, ppy=ppy)
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
