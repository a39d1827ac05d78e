"""Tearsheet figures on hand-computed curves, and their agreement with the engine's metrics."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from worker.engine.analysis import micros
from worker.engine.api import BacktestResult, run_backtest
from worker.engine.drawdowns import drawdown_table
from worker.engine.synthetic import generate_bars
from worker.results.grid_heatmap import grid_view
from worker.results.metric_labels import format_metric
from worker.results.tearsheet import CURVE_METRICS, curve_metrics, tearsheet


@pytest.fixture(scope="module")
def run() -> BacktestResult:
    bars = generate_bars(symbols=["AAA", "BBB"], n_bars=900, seed=11)
    return run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 10, "slow_period": 30},
        {"commission": 0.001},
        initial_capital=10_000,
        timeframe="1d",
    )


def test_tearsheet_agrees_with_the_engine(run: BacktestResult) -> None:
    sheet = tearsheet(run)
    worst = sheet.drawdowns[0]
    assert worst.depth == pytest.approx(run.metrics["max_drawdown"])
    table = drawdown_table(micros(run.equity["timestamp"]), run.equity["drawdown"].to_numpy())
    longest = int((table.end - table.start).max())
    assert longest == run.metrics["max_drawdown_duration_bars"]
    compounded = np.prod([1 + r.value for r in sheet.yearly if r.value is not None]) - 1
    assert compounded == pytest.approx(run.metrics["total_return"])
    for year in sheet.yearly:
        months = [1 + r.value for r in sheet.monthly if r.year == year.year and r.value is not None]
        assert np.prod(months) - 1 == pytest.approx(year.value)
    assert sheet.benchmark_metrics is not None
    assert sheet.benchmark_metrics["total_return"] == pytest.approx(
        run.metrics["buy_and_hold_return"]
    )


def test_curve_metrics_are_the_engines(run: BacktestResult) -> None:
    own = curve_metrics(run.equity["equity"].to_numpy(), 10_000, 252)
    assert own == {name: run.metrics[name] for name in CURVE_METRICS}


def test_grid_heatmaps_by_number_of_parameters() -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=500, seed=2)

    def grid(values: dict[str, list[int]], metric: str = "sharpe_ratio") -> BacktestResult:
        return run_backtest(
            bars,
            {"kind": "sma_crossover", "fast_period": 5, "slow_period": 40},
            {"grid": values, "grid_metric": metric},
            initial_capital=10_000,
            timeframe="1d",
        )

    two = grid({"fast_period": [5, 10, 15], "slow_period": [20, 40]})
    view = grid_view(two.leaderboard, "sharpe_ratio")
    assert view is not None and view.parameters == ["fast_period", "slow_period"]
    (heatmap,) = view.heatmaps
    assert heatmap.x_values == ["5", "10", "15"] and [y for y, _ in heatmap.rows] == ["20", "40"]
    best = two.leaderboard.row(0, named=True)  # type: ignore[union-attr]
    row = dict(heatmap.rows)[str(best["slow_period"])]
    cell = row[heatmap.x_values.index(str(best["fast_period"]))]
    assert cell.style.startswith("background:#1f5496")  # the best cell is the darkest

    one = grid({"fast_period": [3, 5, 8, 13]})
    (strip,) = grid_view(one.leaderboard, "sharpe_ratio").heatmaps  # type: ignore[union-attr]
    assert strip.y_name is None and len(strip.rows) == 1 and len(strip.rows[0][1]) == 4

    rsi = run_backtest(
        bars,
        {"kind": "rsi"},
        {"grid": {"period": [7, 14], "oversold": [20, 30], "overbought": [70, 80, 90]}},
        initial_capital=10_000,
        timeframe="1d",
    )
    board = rsi.leaderboard
    view3 = grid_view(board, "sharpe_ratio")
    assert view3 is not None and len(view3.heatmaps) == 3  # every pair
    assert "best over the other parameters" in view3.note
    pair = next(h for h in view3.heatmaps if (h.x_name, h.y_name) == ("overbought", "oversold"))
    assert len(pair.rows) == 2 and all(len(cells) == 3 for _, cells in pair.rows)
    assert board is not None
    best_at_70_20 = board.filter((pl.col("overbought") == 70) & (pl.col("oversold") == 20))[
        "sharpe_ratio"
    ].max()
    assert pair.rows[0][1][0].title.endswith(format_metric("sharpe_ratio", best_at_70_20))


def test_every_analysis_metric_has_a_label_and_a_format(run: BacktestResult) -> None:
    from worker.engine.analysis import ANALYSIS_METRIC_NAMES
    from worker.results.metric_labels import LABELS, metric_rows

    assert set(ANALYSIS_METRIC_NAMES) <= set(LABELS)
    rows = {r["name"]: r for r in metric_rows(run.metrics)}
    assert rows["beta"]["label"] == "Beta"
    assert rows["avg_trade_duration_days"]["value"].endswith(" d")
    assert format_metric("max_drawdown_start", "2024-01-06T00:00:00+00:00") == "2024-01-06"
    assert format_metric("max_drawdown_start", "2024-01-06T09:30:00+00:00") == "2024-01-06 09:30"
    assert format_metric("avg_trade_duration_days", 1 / 16) == "1 h 30 min"
    assert format_metric("min_trade_duration_days", 5 / 1440) == "5 min"
    assert format_metric("max_drawdown_recovery", None) == "undefined"
