"""The run's metric set: its names, JSON-safe values, and ``compute_all``, which turns a
curve's block statistics and the closed trades into every metric of ``METRIC_NAMES``.

The definitions live beside it, one pure function per metric: ``return_metrics``
(Sharpe, Sortino, CAGR, …), ``drawdowns``, ``trade_metrics``, ``benchmark_metrics``,
``calendar_returns``; annualisation in ``annualisation``; the blockwise fast path in
``equity_stats``; the whole-run analysis (benchmark, drawdown periods, durations) in
``analysis``. Formulas are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from worker.engine import annualisation as an
from worker.engine.equity_stats import EquityStats, array_block, equity_stats
from worker.engine.return_metrics import SD_EPSILON, finite
from worker.engine.trade_metrics import trade_stats

F64 = npt.NDArray[np.float64]
#: A metric's value: numbers, ``ruined`` (bool) and text (``ruin_time``, dates).
Metric = float | int | str | None

#: Computed for every run and every grid combination (the leaderboard's columns).
METRIC_NAMES = (
    "total_return",
    "sharpe_ratio",
    "max_drawdown",
    "win_rate",
    "total_trades",
    "winning_trades",
    "losing_trades",
    "final_value",
    "cagr",
    "volatility",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown_duration_bars",
    "profit_factor",
    "expectancy",
    "avg_trade_return",
    "best_trade_return",
    "worst_trade_return",
    "exposure",
    "commissions_paid",
    "buy_and_hold_return",
    "periods_per_year",
    "bars",
    "ruined",
    "ruin_bar",
    "ruin_time",
    "margin_calls",
    "carry_paid",
    "interest_paid",
    "borrow_paid",
    "funding_paid",
)


def buy_and_hold_return(first_close: F64, last_close: F64) -> float | None:
    """Equal-weighted mean over symbols of ``last close / first close - 1`` in the window."""
    if first_close.size == 0:
        return None
    return finite(float(np.mean(last_close / first_close - 1.0)))


def sanitize(values: Mapping[str, Any]) -> dict[str, Metric]:
    """JSON-safe copy: ints, bools and text stay, floats must be finite else None."""
    out: dict[str, Metric] = {}
    for key, value in values.items():
        if value is None or isinstance(value, bool | str):
            out[key] = value
        elif isinstance(value, int | np.integer):
            out[key] = int(value)
        else:
            out[key] = finite(value)
    return out


def compute_all(
    *,
    equity: F64 | None = None,
    stats: EquityStats | None = None,
    initial: float,
    ppy: float,
    pnl: F64,
    trade_returns: F64,
    fees: F64,
    exposure: float | None,
    first_close: F64,
    last_close: F64,
    risk_free_rate: float = 0.0,
) -> dict[str, Metric]:
    """Every metric in ``METRIC_NAMES`` from the equity curve (``equity`` or its
    ``equity_stats``) and the closed trades.

    Same definitions as the single-metric functions of ``return_metrics`` and
    ``trade_metrics`` (CAGR uses final/initial, which equals Π(1+r)). The Sharpe and
    Sortino ratios are measured against ``stats.threshold``, the per-bar risk-free rate;
    ``risk_free_rate`` (annual) sets it when the stats are computed here from ``equity``.
    """
    if stats is None:
        assert equity is not None
        rf = an.per_period_rate(risk_free_rate, ppy)
        stats = equity_stats(array_block(equity), int(equity.shape[0]), initial, threshold=rf)
    return assemble(
        stats,
        initial=initial,
        ppy=ppy,
        trades=trade_stats(pnl, trade_returns),
        commissions=float(fees.sum()),
        exposure=exposure,
        buy_and_hold=buy_and_hold_return(first_close, last_close),
    )


def assemble(
    stats: EquityStats,
    *,
    initial: float,
    ppy: float,
    trades: Mapping[str, Any],
    commissions: float,
    exposure: float | None,
    buy_and_hold: float | None,
) -> dict[str, Metric]:
    """Every metric in ``METRIC_NAMES`` from the curve's ``equity_stats``, the trade
    metrics (``trade_stats``) and the run's totals (``compute_all`` without the arrays)."""
    bars = stats.bars
    values: dict[str, Any] = dict.fromkeys(METRIC_NAMES)
    values.update(trades)
    values.update(
        commissions_paid=commissions,
        buy_and_hold_return=buy_and_hold,
        periods_per_year=float(ppy),
        bars=bars,
        final_value=stats.final,
        max_drawdown_duration_bars=0,
        exposure=exposure,
    )
    if not bars:
        return sanitize(values)
    growth = stats.final / initial
    values["total_return"] = growth - 1.0
    ar = -1.0 if growth <= 0 else finite(an.annualise_growth(growth, bars, ppy))
    values["cagr"] = ar
    total = stats.total
    if bars >= 2 and math.isfinite(total):
        mean = total / bars
        if stats.dev is None:
            var = max(stats.squares - bars * mean * mean, 0.0) / (bars - 1)
        else:
            var = stats.dev / (bars - 1)
        sd = math.sqrt(var)
        excess = mean - stats.threshold
        values["volatility"] = finite(an.annualise_deviation(sd, ppy))
        if sd > SD_EPSILON:
            values["sharpe_ratio"] = finite(an.annualise_ratio(excess / sd, ppy))
        down = an.annualise_deviation(math.sqrt(stats.down / bars), ppy)
        if down > 0:
            values["sortino_ratio"] = finite(an.annualise_mean(excess, ppy) / down)
    mdd = min(stats.min_ratio - 1.0, 0.0)
    values["max_drawdown"] = finite(mdd)
    values["max_drawdown_duration_bars"] = stats.underwater
    if ar is not None and mdd < 0:
        values["calmar_ratio"] = finite(ar / -mdd)
    return sanitize(values)
