"""The HTML report's tables as display strings: what each section shows, formatted.

Pure: the result and its tearsheet in, rows of text (and cell colours) out; the template
only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from worker.engine import column_copy
from worker.engine.analysis import ANALYSIS_METRIC_NAMES
from worker.engine.calendar_returns import PeriodReturn
from worker.engine.drawdowns import DrawdownPeriod
from worker.engine.grid_stats import BOARD_METRICS, RUN_METRICS
from worker.engine.metrics import METRIC_NAMES
from worker.results.metric_labels import READINGS, format_metric, label_of, undefined_note

LEADERBOARD_ROWS = 20
FORMATTED = frozenset(METRIC_NAMES) | frozenset(BOARD_METRICS) | frozenset(ANALYSIS_METRIC_NAMES)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CARDS = (
    "total_return",
    "cagr",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "total_trades",
)
TRADE_METRICS = frozenset(
    {
        "total_trades",
        "winning_trades",
        "losing_trades",
        "win_rate",
        "profit_factor",
        "expectancy",
        "avg_trade_return",
        "best_trade_return",
        "worst_trade_return",
        "commissions_paid",
        "sqn",
        "kelly_criterion",
        "avg_trade_duration_days",
        "median_trade_duration_days",
        "min_trade_duration_days",
        "max_trade_duration_days",
        "avg_bars_held",
    }
)
LEADERBOARD_METRICS = (
    "total_return",
    "sharpe_ratio",
    "max_drawdown",
    "total_trades",
    "win_rate",
    "deflated_sharpe_ratio",
)


_DAY_MICROS = 86_400_000_000


def time_format(timestamps: pl.Series) -> str:
    """Dates alone when every bar is at midnight UTC, else date and time. Intraday bars
    show it in their first ones, so a million of them are not all divided (3 ms)."""
    micros = column_copy.micros(timestamps)
    intraday = (
        np.remainder(micros[:64], _DAY_MICROS).any() or np.remainder(micros, _DAY_MICROS).any()
    )
    return "%Y-%m-%d %H:%M" if intraday else "%Y-%m-%d"


def format_time(value: datetime | None, fmt: str) -> str:
    return value.strftime(fmt) if value is not None else ""


def _duration(value: timedelta) -> str:
    if value >= timedelta(days=1):
        return f"{value.days:,} d"
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def signed_pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.2f} %"


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    css: str
    note: str


def cards(metrics: dict[str, Any], benchmark: dict[str, Any] | None) -> list[Card]:
    out = []
    for name in CARDS:
        value = metrics.get(name)
        css = ""
        if value is not None and name not in ("total_trades", "profit_factor"):
            css = "pos" if value > 0 else "neg" if value < 0 else ""
        note = undefined_note(name) if value is None else ""
        if not note and benchmark is not None and benchmark.get(name) is not None:
            note = f"B&H {format_metric(name, benchmark[name])}"
        out.append(Card(label_of(name), format_metric(name, value), css, note))
    return out


def split_metric_rows(
    rows: list[dict[str, str]],
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(returns and risk, trade statistics), each in the rows' order."""
    return (
        [r for r in rows if r["name"] not in TRADE_METRICS],
        [r for r in rows if r["name"] in TRADE_METRICS],
    )


def drawdown_rows(periods: list[DrawdownPeriod], fmt: str) -> list[dict[str, str]]:
    return [
        {
            "start": format_time(p.start, fmt),
            "trough": format_time(p.trough, fmt),
            "recovery": format_time(p.recovery, fmt) if p.recovery else "not recovered",
            "depth": f"{100 * p.depth:.2f} %",
            "bars": f"{p.bars:,}",
            "duration": _duration(p.duration),
        }
        for p in periods
    ]


def yearly_rows(yearly: list[PeriodReturn], benchmark: list[PeriodReturn]) -> list[dict[str, Any]]:
    """Strategy against buy-and-hold per year, with bar lengths scaled to the largest."""
    bench = {r.year: r.value for r in benchmark}
    sizes = [abs(v) for r in yearly for v in (r.value, bench.get(r.year)) if v is not None]
    largest = max(sizes, default=0.0) or 1.0
    rows = []
    for r in yearly:
        other = bench.get(r.year)
        excess = None if r.value is None or other is None else r.value - other
        rows.append(
            {
                "year": r.year,
                "value": signed_pct(r.value),
                "benchmark": signed_pct(other),
                "excess": signed_pct(excess),
                "css": "" if r.value is None else "pos" if r.value > 0 else "neg",
                "excess_css": "" if excess is None else "pos" if excess > 0 else "neg",
                "bar": 0.0 if r.value is None else round(50 * abs(r.value) / largest, 2),
                "bar_side": "right" if (r.value or 0) >= 0 else "left",
                "bench_bar": 0.0 if other is None else round(50 * abs(other) / largest, 2),
                "bench_side": "right" if (other or 0) >= 0 else "left",
            }
        )
    return rows


def leaderboard_table(
    leaderboard: pl.DataFrame, metric: str, parameters: list[str]
) -> tuple[list[str], list[list[str]]]:
    """The best ``LEADERBOARD_ROWS`` combinations: rank, parameters, the grid metric first."""
    present = (m for m in LEADERBOARD_METRICS if m != metric and m in leaderboard.columns)
    metrics = [metric, *present]
    columns = ["rank", *parameters, *metrics]
    rows = []
    for row in leaderboard.head(LEADERBOARD_ROWS).select(columns).iter_rows(named=True):
        rows.append(
            [
                format_metric(c, v) if c in FORMATTED else "" if v is None else str(v)
                for c, v in row.items()
            ]
        )
    headers = ["rank", *parameters, *(label_of(m) for m in metrics)]
    return headers, rows


def overfitting_rows(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """The grid run's overfitting statistics with how to read each (empty for other runs)."""
    return [
        {
            "label": label_of(name),
            "value": format_metric(name, metrics[name]),
            "reading": READINGS[name],
            "note": undefined_note(name) if metrics[name] is None else "",
        }
        for name in RUN_METRICS
        if name in metrics
    ]
