"""Walk-forward: fold windows, per-fold optimisation, stitched out-of-sample results."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from worker.engine.api import BacktestResult, run_backtest
from worker.engine.errors import EngineInputError
from worker.engine.folds import Fold, fold_windows
from worker.engine.params import WalkForwardConfig
from worker.engine.synthetic import generate_bars

BARS = generate_bars(["AAA", "BBB"], 1200, "1d", seed=9)
SMA = {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20}
GRID = {"fast_period": [3, 5, 8], "slow_period": [20, 40]}
CFG = {"commission": 0.001, "grid": GRID}


def run(walk_forward: dict, bars: pl.DataFrame = BARS, **extra) -> BacktestResult:  # type: ignore[no-untyped-def, type-arg]
    config = {**CFG, "walk_forward": walk_forward, **extra}
    return run_backtest(bars, SMA, config, initial_capital=10_000, timeframe="1d")


def test_bar_count_folds_roll_or_anchor() -> None:
    ts = np.arange(10, dtype=np.int64)
    rolling = fold_windows(ts, WalkForwardConfig(train=4, test=2))
    assert rolling == [Fold((0, 4), (4, 6)), Fold((2, 6), (6, 8)), Fold((4, 8), (8, 10))]
    anchored = fold_windows(ts, WalkForwardConfig(train=4, test=3, anchored=True))
    assert anchored == [Fold((0, 4), (4, 7)), Fold((0, 7), (7, 10))]
    gaps = fold_windows(ts, WalkForwardConfig(train=3, test=2, step=4))
    assert gaps == [Fold((0, 3), (3, 5)), Fold((4, 7), (7, 9))]
    short_last = fold_windows(ts, WalkForwardConfig(train=6, test=3))
    assert short_last == [Fold((0, 6), (6, 9)), Fold((3, 9), (9, 10))]


def test_duration_folds_follow_the_calendar() -> None:
    days = pl.datetime_range(
        datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 12, 31, tzinfo=UTC), "1d", eager=True
    )
    ts = days.dt.epoch("us").to_numpy().astype(np.int64)
    folds = fold_windows(ts, WalkForwardConfig(train="6mo", test="3mo"))
    starts = [days[f.test[0]].date().isoformat() for f in folds]
    assert starts == ["2020-07-01", "2020-10-01"]
    assert [days[f.train[0]].date().isoformat() for f in folds] == ["2020-01-01", "2020-04-01"]
    assert folds[-1].test[1] == len(days)


def test_each_fold_trades_the_best_of_its_train_window_and_capital_carries() -> None:
    res = run({"train": 400, "test": 200})
    wf = res.walk_forward
    assert wf is not None and res.leaderboard is None
    assert wf.folds.height == 4  # 1,200 bars: test windows at 400, 600, 800, 1000
    for row in wf.folds.iter_rows(named=True):
        window = BARS.filter(pl.col("timestamp").is_between(row["train_start"], row["train_end"]))
        alone = run_backtest(window, SMA, CFG, initial_capital=10_000, timeframe="1d")
        assert json.loads(row["params"]) == alone.best_params
        assert row["in_sample"] == alone.metrics["sharpe_ratio"]
    growth = math.prod(1 + r for r in wf.folds["test_return"].to_list())
    assert res.metrics["final_value"] == pytest.approx(10_000 * growth, rel=1e-9)
    assert res.equity.height == 800 and res.metrics["bars"] == 800
    assert res.equity["timestamp"].is_sorted()
    assert wf.in_sample.len() == res.equity.height == res.buy_and_hold.len()  # type: ignore[union-attr]
    assert res.trades["pnl"].sum() == pytest.approx(res.metrics["final_value"] - 10_000, rel=1e-6)
    assert res.best_params == json.loads(wf.folds["params"][-1])
    summary = res.resolved_config["walk_forward_summary"]
    assert summary["folds"] == 4 and len(summary["fold_table"]) == 4
    assert summary["in_sample_mean"] == pytest.approx(float(wf.folds["in_sample"].mean()))


def test_a_fold_does_not_see_the_bars_after_its_test_window() -> None:
    res = run({"train": 400, "test": 200})
    assert res.walk_forward is not None
    cut = res.walk_forward.folds["test_end"][0]
    later = pl.col("timestamp") > cut
    changed = BARS.with_columns(
        [
            pl.when(later).then(pl.col(c) * 1.5).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        ]
    )
    other = run({"train": 400, "test": 200}, bars=changed)
    assert other.walk_forward is not None
    first, second = res.walk_forward.folds.row(0), other.walk_forward.folds.row(0)
    assert first == second
    fold_1 = pl.col("timestamp") <= cut
    assert res.equity.filter(fold_1).equals(other.equity.filter(fold_1))


@pytest.mark.parametrize(
    ("walk_forward", "extra", "message"),
    [
        ({"train": 400, "test": 200}, {"grid": None}, "walk_forward needs a grid"),
        ({"train": 400, "test": "30d"}, {}, "all be bar counts or all durations"),
        ({"train": 400, "test": 200, "step": 100}, {}, "step must be at least test"),
        ({"train": "1q", "test": "30d"}, {}, "is not a bar count"),
        ({"train": 0, "test": 10}, {}, "positive bar count"),
        ({"train": 400, "test": 200, "every": 3}, {}, "unknown key"),
        ({"train": 1200, "test": 200}, {}, "too few for one train window"),
        ({"train": "1y", "test": "6mo", "step": "1mo"}, {}, "test windows would overlap"),
    ],
)
def test_bad_walk_forward_configs_say_why(walk_forward: dict, extra: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(EngineInputError, match=message) as info:
        run(walk_forward, **extra)
    assert info.value.type == "invalid_config"
