"""The tearsheet's figures: the engine's analysis (drawdown periods, calendar returns,
computed by ``worker.engine.analysis``) and the benchmark's curve measured with the
engine's own metric definitions.

Pure: the result in, values out. Timestamps are UTC; months and years are UTC ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker.engine import metrics as mx
from worker.engine.api import BacktestResult
from worker.engine.calendar_returns import PeriodReturn
from worker.engine.drawdowns import DrawdownPeriod

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: The metrics that describe an equity curve alone, computed for buy-and-hold too.
CURVE_METRICS = (
    "final_value",
    "total_return",
    "cagr",
    "volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown",
    "max_drawdown_duration_bars",
)


def curve_metrics(
    curve: F64, initial: float, ppy: float, risk_free_rate: float = 0.0
) -> dict[str, mx.Metric]:
    """``CURVE_METRICS`` of any equity curve, by the engine's ``compute_all``."""
    empty = np.empty(0)
    values = mx.compute_all(
        equity=np.asarray(curve, dtype=np.float64),
        initial=initial,
        ppy=ppy,
        pnl=empty,
        trade_returns=empty,
        fees=empty,
        exposure=None,
        first_close=empty,
        last_close=empty,
        risk_free_rate=risk_free_rate,
    )
    return {name: values[name] for name in CURVE_METRICS}


@dataclass(frozen=True)
class Tearsheet:
    initial_capital: float
    drawdowns: list[DrawdownPeriod]
    monthly: list[PeriodReturn]
    yearly: list[PeriodReturn]
    benchmark_yearly: list[PeriodReturn]
    benchmark_metrics: dict[str, mx.Metric] | None


def tearsheet(result: BacktestResult) -> Tearsheet:
    """Everything the reports show beyond the engine's metrics."""
    initial = float(result.resolved_config["initial_capital"])
    ppy = float(result.resolved_config["periods_per_year"])
    rf = float(result.resolved_config.get("risk_free_rate") or 0.0)
    bench_series = result.benchmark if result.benchmark is not None else result.buy_and_hold
    bench = None if bench_series is None else bench_series.to_numpy()
    analysis = result.analysis
    return Tearsheet(
        initial_capital=initial,
        drawdowns=analysis.drawdowns if analysis else [],
        monthly=analysis.monthly if analysis else [],
        yearly=analysis.yearly if analysis else [],
        benchmark_yearly=analysis.benchmark_yearly if analysis else [],
        benchmark_metrics=None if bench is None else curve_metrics(bench, initial, ppy, rf),
    )
