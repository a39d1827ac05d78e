"""The whole-run analysis: metrics that need the finished run's timeline — against a
benchmark, drawdown periods in time, trade durations, SQN and Kelly — and the calendar
returns and worst drawdowns the reports show.

Computed once for the run's final simulation (a single run, a grid's best combination, a
walk-forward's stitched out-of-sample run), not for every grid combination: these keys are
in ``runs.metrics`` but not in the leaderboard, and cannot be a ``grid_metric``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from worker.engine import benchmark_metrics as bm
from worker.engine import drawdowns as dd
from worker.engine import trade_metrics as tm
from worker.engine.calendar_returns import PeriodReturn, calendar_periods, returns_over
from worker.engine.column_copy import micros
from worker.engine.metrics import Metric, sanitize
from worker.engine.return_metrics import finite, returns_from_equity

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

ANALYSIS_METRIC_NAMES = (
    "benchmark_return",
    "alpha",
    "beta",
    "correlation",
    "tracking_error",
    "information_ratio",
    "avg_drawdown",
    "drawdown_periods",
    "max_drawdown_duration_days",
    "avg_drawdown_duration_days",
    "max_drawdown_start",
    "max_drawdown_trough",
    "max_drawdown_recovery",
    "sqn",
    "kelly_criterion",
    "avg_trade_duration_days",
    "median_trade_duration_days",
    "min_trade_duration_days",
    "max_trade_duration_days",
    "avg_bars_held",
    "best_month_return",
    "worst_month_return",
    "positive_months",
)


@dataclass(frozen=True)
class Analysis:
    """What the reports show beyond the scalar metrics, computed by the engine."""

    drawdowns: list[dd.DrawdownPeriod]  # the deepest first, at most WORST_DRAWDOWNS
    monthly: list[PeriodReturn]
    yearly: list[PeriodReturn]
    benchmark_monthly: list[PeriodReturn]
    benchmark_yearly: list[PeriodReturn]


def _return_paths(
    equity: F64,
    benchmark: F64 | None,
    initial: float,
    ruin_bar: int | None,
    returns: F64 | None = None,
) -> tuple[F64, F64 | None]:
    """Per-bar returns of the run (``returns`` when the simulation kept them) and the
    benchmark; a ruined run's stop at the ruin bar, whose equity counts as 0 (as the return
    metrics do, docs/metrics.md)."""
    if ruin_bar is not None:
        equity = equity[:ruin_bar].copy()
        equity[-1] = 0.0
        benchmark = None if benchmark is None else benchmark[:ruin_bar]
        returns = None
    r = returns_from_equity(equity, initial) if returns is None else returns
    if benchmark is None:
        return r, None
    return r, returns_from_equity(benchmark, initial)


def benchmark_metrics(
    equity: F64,
    benchmark: F64 | None,
    *,
    initial: float,
    ppy: float,
    risk_free_rate: float,
    ruin_bar: int | None,
    returns: F64 | None,
    returns_mean: float | None,
    benchmark_mean: float | None,
) -> dict[str, Metric]:
    """``benchmark_values`` of the run's and the benchmark's returns (``analyse``'s
    arguments): straight from the two curves when both means are known (no ruin), else
    from the returns built whole."""
    known = returns_mean is not None and benchmark_mean is not None
    if benchmark is not None and equity.shape[0] and ruin_bar is None and known:
        assert returns_mean is not None and benchmark_mean is not None
        stats = bm.curve_benchmark_stats(
            equity, benchmark, initial, ppy, risk_free_rate, returns_mean, benchmark_mean
        )
        if stats is not None:
            return dict(stats)
    r, b = _return_paths(equity, benchmark, initial, ruin_bar, returns)
    r_mean = returns_mean if returns is not None and ruin_bar is None else None
    b_mean = benchmark_mean if ruin_bar is None else None
    return benchmark_values(r, b, ppy, risk_free_rate, r_mean, b_mean)


def _calendar(times: I64) -> tuple[tuple[I64, I64] | None, tuple[I64, I64] | None]:
    """The months and years of the bar times (``calendar_periods``), None without bars."""
    if times.shape[0] == 0:
        return None, None
    return calendar_periods(times, "M"), calendar_periods(times, "Y")


def _calendar_returns(
    periods: tuple[I64, I64] | None, curve: F64 | None, initial: float, unit: str
) -> list[PeriodReturn]:
    return [] if periods is None or curve is None else returns_over(periods, curve, initial, unit)


#: The drawdown periods of a curve and the deepest of them (``drawdown_periods``).
Drawdowns = tuple[dd.DrawdownTable, list[dd.DrawdownPeriod]]


def drawdown_periods(times: I64, drawdown: F64) -> Drawdowns:
    """The periods under water of the drawdown curve on bar ``times``, and the deepest."""
    table = dd.drawdown_table(times, drawdown)
    return table, dd.worst_periods(table, times)


def benchmark_values(
    returns: F64,
    bench: F64 | None,
    ppy: float,
    risk_free_rate: float,
    returns_mean: float | None = None,
    bench_mean: float | None = None,
) -> dict[str, Metric]:
    if bench is None or returns.shape[0] == 0:
        return dict.fromkeys(bm.BENCHMARK_METRICS)
    means = (returns_mean, bench_mean)
    return dict(bm.benchmark_stats(returns, bench, ppy, risk_free_rate, *means))


def drawdown_values(table: dd.DrawdownTable, worst: list[dd.DrawdownPeriod]) -> dict[str, Metric]:
    longest, mean = dd.duration_days(table)
    deepest = worst[0] if worst else None
    return {
        "avg_drawdown": dd.average_drawdown(table),
        "drawdown_periods": table.count,
        "max_drawdown_duration_days": longest,
        "avg_drawdown_duration_days": mean,
        "max_drawdown_start": deepest.start.isoformat() if deepest else None,
        "max_drawdown_trough": deepest.trough.isoformat() if deepest else None,
        "max_drawdown_recovery": (
            deepest.recovery.isoformat() if deepest and deepest.recovery else None
        ),
    }


def monthly_values(monthly: list[PeriodReturn]) -> dict[str, Metric]:
    known = [m.value for m in monthly if m.value is not None]
    return {
        "best_month_return": max(known) if known else None,
        "worst_month_return": min(known) if known else None,
        "positive_months": finite(sum(v > 0 for v in known) / len(known)) if known else None,
    }


def trade_values(trades: pl.DataFrame, sums: tm.TradeSums | None = None) -> dict[str, Metric]:
    """``sums``: the trades' sums, when the simulation's pass took them (``kelly_of``)."""
    pnl = trades["pnl"].to_numpy().astype(np.float64, copy=False)
    kelly = tm.kelly_criterion(pnl) if sums is None else tm.kelly_of(sums)
    out: dict[str, Metric] = {"sqn": tm.sqn(pnl), "kelly_criterion": kelly}
    out.update(
        tm.trade_durations(
            micros(trades["entry_time"]),
            micros(trades["exit_time"]),
            trades["bars_held"].to_numpy().astype(np.int64, copy=False),
        )
    )
    return out


def analyse(
    equity_frame: pl.DataFrame,
    trades: pl.DataFrame,
    benchmark: F64 | None,
    *,
    initial: float,
    ppy: float,
    risk_free_rate: float = 0.0,
    ruin_bar: int | None = None,
    returns: F64 | None = None,
    returns_mean: float | None = None,
    benchmark_mean: float | None = None,
    trade_sums: tm.TradeSums | None = None,
    times: I64 | None = None,
    benchmark_stats: Callable[[], dict[str, Metric]] | None = None,
) -> tuple[dict[str, Metric], Analysis]:
    """``ANALYSIS_METRIC_NAMES`` and the report tables of a finished run: its equity frame
    (timestamp, equity, drawdown), its trades, and the benchmark's value on the same bars
    (None: no benchmark). ``returns``: the equity's per-bar returns
    (``Simulation.returns``), if known, and their mean (``returns_mean``);
    ``benchmark_mean``: the mean of the benchmark's (``frames.buy_and_hold_paths``);
    ``trade_sums``: the trades' (``Simulation.trade_sums``); ``times``: the equity frame's
    timestamps as ``micros`` (``MarketData.grid_ts``), when the caller has them;
    ``benchmark_stats``: gives ``benchmark_metrics`` of the same arguments, when the caller
    computes them itself (``api.simulate_run``: beside the rest of the analysis), called
    last."""
    times = micros(equity_frame["timestamp"]) if times is None else times
    equity = equity_frame["equity"].to_numpy().astype(np.float64, copy=False)
    table, worst = drawdown_periods(times, equity_frame["drawdown"].to_numpy())
    months, years = _calendar(times)
    monthly = _calendar_returns(months, equity, initial, "M")
    values: dict[str, Metric] = {
        "benchmark_return": (
            None if benchmark is None or not benchmark.shape[0] else benchmark[-1] / initial - 1
        )
    }
    drawdown = drawdown_values(table, worst)
    of_trades = trade_values(trades, trade_sums)
    if benchmark_stats is None:
        against = benchmark_metrics(
            equity,
            benchmark,
            initial=initial,
            ppy=ppy,
            risk_free_rate=risk_free_rate,
            ruin_bar=ruin_bar,
            returns=returns,
            returns_mean=returns_mean,
            benchmark_mean=benchmark_mean,
        )
    else:
        against = benchmark_stats()
    values.update(against)
    values.update(drawdown)
    values.update(of_trades)
    values.update(monthly_values(monthly))
    analysis = Analysis(
        drawdowns=worst,
        monthly=monthly,
        yearly=_calendar_returns(years, equity, initial, "Y"),
        benchmark_monthly=_calendar_returns(months, benchmark, initial, "M"),
        benchmark_yearly=_calendar_returns(years, benchmark, initial, "Y"),
    )
    return sanitize(values), analysis
