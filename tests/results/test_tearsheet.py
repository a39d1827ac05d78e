"""Tearsheet figures on hand-computed curves, and their agreement with the engine's metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from worker.engine.api import BacktestResult, run_backtest
from worker.engine.synthetic import generate_bars
from worker.results.grid_heatmap import grid_view
from worker.results.metric_labels import format_metric
from worker.results.tearsheet import (
    CURVE_METRICS,
    PeriodReturn,
    curve_metrics,
    drawdown_periods,
    period_returns,
    tearsheet,
)


def days(*dates: tuple[int, int, int]) -> pl.Series:
    return pl.Series([datetime(*d, tzinfo=UTC) for d in dates]).cast(pl.Datetime("us", "UTC"))


def drawdown_of(equity: list[float], initial: float) -> np.ndarray:
    values = np.array(equity)
    return values / np.maximum.accumulate(np.maximum(values, initial)) - 1


# initial 100; peaks 100 110 110 110 112 112 112 112
EQUITY = [100.0, 110.0, 99.0, 105.0, 112.0, 100.0, 90.0, 95.0]
EIGHT_DAYS = days(*((2024, 1, d) for d in range(1, 9)))


def test_drawdown_periods_deepest_first_with_recovery() -> None:
    deep, shallow = drawdown_periods(EIGHT_DAYS, drawdown_of(EQUITY, 100.0))
    assert deep.start == datetime(2024, 1, 6, tzinfo=UTC)  # 100 < 112
    assert deep.trough == datetime(2024, 1, 7, tzinfo=UTC)  # 90
    assert deep.recovery is None  # 95 at the end, still under 112
    assert deep.depth == pytest.approx(90 / 112 - 1)
    assert deep.bars == 3 and deep.duration == timedelta(days=2)  # to the last bar
    assert shallow.start == shallow.trough == datetime(2024, 1, 3, tzinfo=UTC)  # 99 < 110
    assert shallow.recovery == datetime(2024, 1, 5, tzinfo=UTC)  # 112 >= 110
    assert shallow.depth == pytest.approx(-0.1)
    assert shallow.bars == 2 and shallow.duration == timedelta(days=2)


def test_drawdown_periods_limit_and_none() -> None:
    assert len(drawdown_periods(EIGHT_DAYS, drawdown_of(EQUITY, 100.0), limit=1)) == 1
    rising = [100.0, 101.0, 102.0]
    assert drawdown_periods(EIGHT_DAYS[:3], drawdown_of(rising, 100.0)) == []
    # the initial capital is a peak: a first bar below it starts a period
    (first,) = drawdown_periods(EIGHT_DAYS[:3], drawdown_of([95.0, 100.0, 101.0], 100.0))
    assert first.start == datetime(2024, 1, 1, tzinfo=UTC) and first.bars == 1
    assert first.recovery == datetime(2024, 1, 2, tzinfo=UTC)


def test_monthly_and_yearly_returns_by_hand() -> None:
    times = days((2023, 12, 29), (2024, 1, 15), (2024, 1, 31), (2024, 3, 1), (2024, 3, 28))
    equity = np.array([102.0, 90.0, 110.0, 99.0, 108.9])
    monthly = period_returns(times, equity, 100.0, "M")
    assert [(r.year, r.month) for r in monthly] == [(2023, 12), (2024, 1), (2024, 3)]
    expected = [0.02, 110 / 102 - 1, 108.9 / 110 - 1]  # February has no bar: it is absent
    assert [r.value for r in monthly] == pytest.approx(expected)
    yearly = period_returns(times, equity, 100.0, "Y")
    assert yearly[0] == PeriodReturn(2023, None, pytest.approx(0.02))
    assert yearly[1].year == 2024 and yearly[1].value == pytest.approx(108.9 / 102 - 1)


def test_returns_undefined_after_ruin() -> None:
    times = days((2024, 1, 2), (2024, 2, 2), (2024, 3, 2))
    values = [r.value for r in period_returns(times, np.array([50.0, 0.0, 0.0]), 100.0)]
    assert values == [pytest.approx(-0.5), pytest.approx(-1.0), None]


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
    longest = max(
        p.bars
        for p in drawdown_periods(
            run.equity["timestamp"], run.equity["drawdown"].to_numpy(), limit=10**6
        )
    )
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
