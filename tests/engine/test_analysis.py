"""The whole-run analysis on hand-computed cases: drawdown periods in time, calendar
returns, benchmark metrics, SQN, Kelly, trade durations and the risk-free rate.

Expected values are computed here by hand or by the textbook formula written out
independently (empyrical's and backtesting.py's definitions), never by the engine."""

from __future__ import annotations

import json
import math
import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.engine import benchmark_metrics as bm
from worker.engine import return_metrics as rm
from worker.engine import trade_metrics as tm
from worker.engine.analysis import ANALYSIS_METRIC_NAMES, analyse, micros
from worker.engine.annualisation import per_period_rate
from worker.engine.api import run_backtest
from worker.engine.calendar_returns import PeriodReturn, period_returns
from worker.engine.drawdowns import DrawdownPeriod, drawdown_table, worst_periods
from worker.engine.errors import EngineInputError
from worker.engine.synthetic import generate_bars


def drawdown_periods(times: pl.Series, dd: np.ndarray, limit: int = 10) -> list[DrawdownPeriod]:
    us = micros(times)
    return worst_periods(drawdown_table(us, dd), us, limit)


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
    monthly = period_returns(micros(times), equity, 100.0, "M")
    assert [(r.year, r.month) for r in monthly] == [(2023, 12), (2024, 1), (2024, 3)]
    expected = [0.02, 110 / 102 - 1, 108.9 / 110 - 1]  # February has no bar: it is absent
    assert [r.value for r in monthly] == pytest.approx(expected)
    yearly = period_returns(micros(times), equity, 100.0, "Y")
    assert yearly[0] == PeriodReturn(2023, None, pytest.approx(0.02))
    assert yearly[1].year == 2024 and yearly[1].value == pytest.approx(108.9 / 102 - 1)


def test_returns_undefined_after_ruin() -> None:
    times = days((2024, 1, 2), (2024, 2, 2), (2024, 3, 2))
    values = [r.value for r in period_returns(micros(times), np.array([50.0, 0.0, 0.0]), 100.0)]
    assert values == [pytest.approx(-0.5), pytest.approx(-1.0), None]


# ---- against a benchmark -------------------------------------------------------------------
R = [0.01, -0.02, 0.03, 0.0, 0.015, -0.005]
B = [0.005, -0.01, 0.02, 0.001, 0.004, -0.008]


def test_benchmark_metrics_against_the_textbook_formulas() -> None:
    r, b = np.array(R), np.array(B)
    beta = statistics.covariance(R, B) / statistics.variance(B)
    assert bm.beta(r, b) == pytest.approx(beta, rel=1e-12)
    residual = statistics.fmean(x - beta * y for x, y in zip(R, B, strict=True))
    assert bm.alpha(r, b, 252) == pytest.approx((1 + residual) ** 252 - 1, rel=1e-9)
    assert bm.correlation(r, b) == pytest.approx(statistics.correlation(R, B), rel=1e-12)
    active = [x - y for x, y in zip(R, B, strict=True)]
    te = statistics.stdev(active) * math.sqrt(252)
    assert bm.tracking_error(r, b, 252) == pytest.approx(te, rel=1e-12)
    ir = statistics.fmean(active) / statistics.stdev(active) * math.sqrt(252)
    assert bm.information_ratio(r, b, 252) == pytest.approx(ir, rel=1e-12)


def test_alpha_nets_the_risk_free_rate_out() -> None:
    r, b = np.array(R), np.array(B)
    rf = 1.04 ** (1 / 252) - 1
    beta = statistics.covariance(R, B) / statistics.variance(B)
    residual = statistics.fmean((x - rf) - beta * (y - rf) for x, y in zip(R, B, strict=True))
    got = bm.alpha(r, b, 252, risk_free_rate=0.04)
    assert got == pytest.approx((1 + residual) ** 252 - 1, rel=1e-9)


def test_a_levered_copy_of_the_benchmark() -> None:
    b = np.array(B)
    assert bm.beta(2 * b, b) == pytest.approx(2.0)
    assert bm.correlation(2 * b, b) == pytest.approx(1.0)
    assert bm.alpha(2 * b, b, 252) == pytest.approx(0.0, abs=1e-12)
    assert bm.correlation(-3 * b + 0.01, b) == pytest.approx(-1.0)  # scale and shift
    assert bm.information_ratio(b, b, 252) is None  # no active return at all
    assert bm.tracking_error(b, b, 252) == 0.0


def test_benchmark_metrics_undefined() -> None:
    r = np.array(R)
    flat = np.zeros_like(r)
    assert bm.beta(r, flat) is None and bm.alpha(r, flat, 252) is None
    assert bm.correlation(r, flat) is None and bm.correlation(flat, r) is None
    assert bm.beta(r[:1], r[:1]) is None
    # a bar with a NaN on either side is left out of both
    with_gap = np.array([*R, np.nan])
    assert bm.beta(with_gap, np.array([*B, 0.3])) == pytest.approx(bm.beta(r, np.array(B)))
    with pytest.raises(ValueError):
        bm.beta(r, r[:-1])


# ---- trades ----------------------------------------------------------------------------------


def test_sqn_and_kelly_by_hand() -> None:
    pnl = np.array([10.0, -5.0, 0.0, 20.0])
    # mean 6.25, sample deviation sqrt(368.75 / 3)
    assert tm.sqn(pnl) == pytest.approx(2 * 6.25 / math.sqrt(368.75 / 3), rel=1e-12)
    # win rate 2/4, mean win 15 over mean loss 5: 0.5 - 0.5 / 3
    assert tm.kelly_criterion(pnl) == pytest.approx(1 / 3, rel=1e-12)
    assert tm.sqn(np.array([5.0])) is None and tm.sqn(np.array([2.0, 2.0])) is None
    assert tm.kelly_criterion(np.array([1.0, 2.0])) is None  # no loss
    assert tm.kelly_criterion(np.array([-1.0])) is None  # no win


def test_trade_durations_by_hand() -> None:
    day = 86_400_000_000
    entry = np.array([0, 10 * day, 20 * day], dtype=np.int64)
    exit_ = entry + np.array([day, 3 * day, day // 2], dtype=np.int64)
    out = tm.trade_durations(entry, exit_, np.array([1, 3, 1], dtype=np.int64))
    assert out == {
        "avg_trade_duration_days": 1.5,
        "median_trade_duration_days": 1.0,
        "min_trade_duration_days": 0.5,
        "max_trade_duration_days": 3.0,
        "avg_bars_held": pytest.approx(5 / 3),
    }
    empty = np.empty(0, dtype=np.int64)
    assert set(tm.trade_durations(empty, empty, empty).values()) == {None}


@settings(max_examples=300, deadline=None)
@given(
    held=st.lists(
        st.one_of(
            st.integers(0, 10 * 86_400_000_000),
            st.integers(0, 2**62),
            st.sampled_from([0, 1, 60_000_000, 86_400_000_000, 2**53 + 1]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_median_days_is_the_median_of_the_days(held: list[int]) -> None:
    us = np.array(held, dtype=np.int64)
    want = float(np.median(us / tm.MICROS_PER_DAY))
    assert repr(tm.median_days(us)) == repr(want)


# ---- the risk-free rate ----------------------------------------------------------------------


def test_sharpe_and_sortino_net_of_a_risk_free_rate() -> None:
    rf = 1.05 ** (1 / 252) - 1
    assert per_period_rate(0.05, 252) == pytest.approx(rf, rel=1e-12)
    assert (1 + per_period_rate(0.05, 252)) ** 252 == pytest.approx(1.05, rel=1e-12)
    excess = [x - rf for x in R]
    sharpe = statistics.fmean(excess) / statistics.stdev(R) * math.sqrt(252)
    assert rm.sharpe_ratio(np.array(R), 252, 0.05) == pytest.approx(sharpe, rel=1e-12)
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in excess) / len(R)) * math.sqrt(252)
    sortino = statistics.fmean(excess) * 252 / downside
    assert rm.sortino_ratio(np.array(R), 252, 0.05) == pytest.approx(sortino, rel=1e-12)


# ---- whole runs --------------------------------------------------------------------------------


def _run(config: dict[str, object], symbols: tuple[str, ...] = ("AAA", "BBB")) -> object:
    bars = generate_bars(symbols=list(symbols), n_bars=600, seed=5)
    return run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 10, "slow_period": 30},
        {"commission": 0.001, **config},
        initial_capital=10_000,
        timeframe="1d",
    )


def test_risk_free_rate_zero_changes_nothing_and_a_rate_moves_sharpe_only() -> None:
    base = _run({})
    zero = _run({"risk_free_rate": 0.0})
    assert zero.metrics == base.metrics  # type: ignore[attr-defined]
    taxed = _run({"risk_free_rate": 0.05})
    equity = base.equity["equity"].to_numpy()  # type: ignore[attr-defined]
    r = rm.returns_from_equity(equity, 10_000.0)
    m = taxed.metrics  # type: ignore[attr-defined]
    assert m["sharpe_ratio"] == pytest.approx(rm.sharpe_ratio(r, 252, 0.05), rel=1e-9)
    assert m["sortino_ratio"] == pytest.approx(rm.sortino_ratio(r, 252, 0.05), rel=1e-9)
    assert m["sharpe_ratio"] < base.metrics["sharpe_ratio"]  # type: ignore[attr-defined]
    unchanged = set(base.metrics) - {"sharpe_ratio", "sortino_ratio", "alpha"}  # type: ignore[attr-defined]
    assert {k: m[k] for k in unchanged} == {k: base.metrics[k] for k in unchanged}  # type: ignore[attr-defined]


def test_grid_rows_use_the_risk_free_rate_too() -> None:
    grid = _run({"risk_free_rate": 0.05, "grid": {"fast_period": [5, 10], "slow_period": [30]}})
    best = grid.leaderboard.row(0, named=True)  # type: ignore[attr-defined]
    assert best["sharpe_ratio"] == grid.metrics["sharpe_ratio"]  # type: ignore[attr-defined]


def test_run_metrics_hold_the_analysis_and_buy_and_hold_is_the_default_benchmark() -> None:
    res = _run({})
    m = res.metrics  # type: ignore[attr-defined]
    assert set(ANALYSIS_METRIC_NAMES) <= set(m)
    json.dumps(m, allow_nan=False)
    bench = res.buy_and_hold.to_numpy()  # type: ignore[attr-defined]
    assert m["benchmark_return"] == pytest.approx(bench[-1] / 10_000 - 1)
    r = rm.returns_from_equity(res.equity["equity"].to_numpy(), 10_000.0)  # type: ignore[attr-defined]
    b = rm.returns_from_equity(bench, 10_000.0)
    assert m["beta"] == pytest.approx(
        statistics.covariance(r.tolist(), b.tolist()) / statistics.variance(b.tolist())
    )
    trades = res.trades  # type: ignore[attr-defined]
    held = (trades["exit_time"] - trades["entry_time"]).dt.total_microseconds() / 86_400e6
    assert m["avg_trade_duration_days"] == pytest.approx(held.mean())
    assert m["max_trade_duration_days"] == pytest.approx(held.max())
    assert m["avg_bars_held"] == pytest.approx(trades["bars_held"].mean())
    assert m["drawdown_periods"] >= 1
    assert m["avg_drawdown"] >= m["max_drawdown"]
    deepest = res.analysis.drawdowns[0]  # type: ignore[attr-defined]
    assert m["max_drawdown_start"] == deepest.start.isoformat()
    assert deepest.depth == pytest.approx(m["max_drawdown"])


def test_a_benchmark_symbol_is_held_not_traded() -> None:
    res = _run({"benchmark": "bbb"})
    assert res.resolved_config["symbols"] == ["AAA"]  # type: ignore[attr-defined]
    bars = generate_bars(symbols=["AAA", "BBB"], n_bars=600, seed=5)
    close = bars.filter(pl.col("symbol") == "BBB")["close"].to_numpy()
    m = res.metrics  # type: ignore[attr-defined]
    assert m["benchmark_return"] == pytest.approx(close[-1] / close[0] - 1)
    alone = _run({"symbols": ["AAA"]})
    r = rm.returns_from_equity(alone.equity["equity"].to_numpy(), 10_000.0)  # type: ignore[attr-defined]
    b = rm.returns_from_equity(10_000 * close / close[0], 10_000.0)
    assert m["beta"] == pytest.approx(bm.beta(r, b), rel=1e-9)
    assert m["sharpe_ratio"] == alone.metrics["sharpe_ratio"]  # type: ignore[attr-defined]
    both = _run({"benchmark": "BBB", "symbols": ["AAA", "BBB"]})
    assert both.resolved_config["symbols"] == ["AAA", "BBB"]  # type: ignore[attr-defined]
    with pytest.raises(EngineInputError) as info:
        _run({"benchmark": "ZZZ"})
    assert info.value.type == "unknown_symbol"
    with pytest.raises(EngineInputError) as info:
        _run({"benchmark": "AAA"}, symbols=("AAA",))  # nothing left to trade
    assert info.value.type == "empty_window"


def test_analysis_of_a_hand_curve() -> None:
    frame = pl.DataFrame(
        {
            "timestamp": EIGHT_DAYS,
            "equity": EQUITY,
            "drawdown": drawdown_of(EQUITY, 100.0),
        }
    )
    trades = pl.DataFrame(
        {
            "pnl": [10.0, -5.0],
            "entry_time": days((2024, 1, 1), (2024, 1, 4)),
            "exit_time": days((2024, 1, 3), (2024, 1, 8)),
            "bars_held": [2, 4],
        }
    )
    values, analysis = analyse(frame, trades, None, initial=100.0, ppy=252)
    assert values["avg_drawdown"] == pytest.approx((-0.1 + (90 / 112 - 1)) / 2)
    assert values["drawdown_periods"] == 2
    assert values["max_drawdown_duration_days"] == 2.0  # both periods last two days
    assert values["avg_drawdown_duration_days"] == 2.0
    assert values["max_drawdown_start"] == "2024-01-06T00:00:00+00:00"
    assert values["max_drawdown_trough"] == "2024-01-07T00:00:00+00:00"
    assert values["max_drawdown_recovery"] is None
    assert values["beta"] is None and values["benchmark_return"] is None
    assert (
        values["avg_trade_duration_days"] == 3.0 and values["kelly_criterion"] == 0.25
    )  # 0.5 - 0.5 / (10 / 5)
    assert values["best_month_return"] == pytest.approx(-0.05)  # one month: 95 / 100 - 1
    assert len(analysis.monthly) == 1 and analysis.benchmark_yearly == []


@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_benchmark_stats_equal_the_single_functions(rf: float) -> None:
    rng = np.random.default_rng(3)
    b = rng.normal(0.0004, 0.01, 2_000)
    r = 0.7 * b + rng.normal(0.0001, 0.004, 2_000)
    r[17] = np.nan  # left out of both
    got = bm.benchmark_stats(r, b, 252, rf)
    assert got["alpha"] == pytest.approx(bm.alpha(r, b, 252, rf), rel=1e-9)
    assert got["beta"] == pytest.approx(bm.beta(r, b), rel=1e-12)
    assert got["correlation"] == pytest.approx(bm.correlation(r, b), rel=1e-12)
    assert got["tracking_error"] == pytest.approx(bm.tracking_error(r, b, 252), rel=1e-9)
    assert got["information_ratio"] == pytest.approx(bm.information_ratio(r, b, 252), rel=1e-9)
    flat = bm.benchmark_stats(r, np.zeros_like(b), 252)
    assert flat["beta"] is None and flat["alpha"] is None and flat["correlation"] is None
    assert set(bm.benchmark_stats(r[:1], b[:1], 252).values()) == {None}


def test_benchmark_stats_sum_over_several_blocks() -> None:
    rng = np.random.default_rng(5)
    n = 2 * bm.MOMENT_BLOCK + 123
    b = rng.normal(0.0002, 0.01, n)
    r = -0.4 * b + rng.normal(0.0003, 0.006, n)
    got = bm.benchmark_stats(r, b, 98_280)
    assert got["beta"] == pytest.approx(bm.beta(r, b), rel=1e-12)
    assert got["correlation"] == pytest.approx(bm.correlation(r, b), rel=1e-12)
    assert got["tracking_error"] == pytest.approx(bm.tracking_error(r, b, 98_280), rel=1e-12)
    assert got["information_ratio"] == pytest.approx(bm.information_ratio(r, b, 98_280), rel=1e-9)
    dr, db = r - r.mean(), b - b.mean()
    moments = bm.centred_moments(r, b, float(r.mean()), float(b.mean()))
    assert moments == pytest.approx((dr @ dr, db @ db, dr @ db), rel=1e-13)


def test_the_calendar_tables_are_period_returns_of_the_run_and_its_benchmark() -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=3_000, timeframe="1h", seed=2)
    res = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 10, "slow_period": 30},
        {"commission": 0.001},
        initial_capital=10_000,
        timeframe="1h",
    )
    times = micros(res.equity["timestamp"])
    equity, bench = res.equity["equity"].to_numpy(), res.benchmark.to_numpy()  # type: ignore[union-attr]
    tables = res.analysis  # type: ignore[union-attr]
    assert tables is not None and len(tables.monthly) > 1 and len(tables.yearly) >= 1
    assert tables.monthly == period_returns(times, equity, 10_000.0, "M")
    assert tables.yearly == period_returns(times, equity, 10_000.0, "Y")
    assert tables.benchmark_monthly == period_returns(times, bench, 10_000.0, "M")
    assert tables.benchmark_yearly == period_returns(times, bench, 10_000.0, "Y")
