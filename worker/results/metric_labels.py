"""How each metric is shown to a person: its label, its format, and why it can be undefined."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricLabel:
    label: str
    kind: str  # "pct", "ratio", "money", "int", "float", "bool", "text", "days", "time"
    undefined_because: str = ""


LABELS: dict[str, MetricLabel] = {
    "final_value": MetricLabel("Final value", "money"),
    "total_return": MetricLabel("Total return", "pct"),
    "cagr": MetricLabel("CAGR", "pct", "the window is too short or equity fell to zero"),
    "volatility": MetricLabel("Annualised volatility", "pct", "fewer than two returns"),
    "sharpe_ratio": MetricLabel("Sharpe ratio", "ratio", "the equity curve is flat"),
    "sortino_ratio": MetricLabel("Sortino ratio", "ratio", "no losing period"),
    "calmar_ratio": MetricLabel("Calmar ratio", "ratio", "no drawdown"),
    "max_drawdown": MetricLabel("Max drawdown", "pct"),
    "max_drawdown_duration_bars": MetricLabel("Max drawdown duration (bars)", "int"),
    "total_trades": MetricLabel("Trades", "int"),
    "winning_trades": MetricLabel("Winning trades", "int"),
    "losing_trades": MetricLabel("Losing trades", "int"),
    "win_rate": MetricLabel("Win rate", "pct", "no trades"),
    "profit_factor": MetricLabel("Profit factor", "ratio", "no losing trade (or no trades)"),
    "expectancy": MetricLabel("Expectancy (per trade)", "money", "no trades"),
    "avg_trade_return": MetricLabel("Average trade return", "pct", "no trades"),
    "best_trade_return": MetricLabel("Best trade", "pct", "no trades"),
    "worst_trade_return": MetricLabel("Worst trade", "pct", "no trades"),
    "exposure": MetricLabel("Exposure", "pct"),
    "commissions_paid": MetricLabel("Commissions paid", "money"),
    "buy_and_hold_return": MetricLabel("Buy-and-hold return", "pct", "no prices in the window"),
    "periods_per_year": MetricLabel("Periods per year", "float"),
    "bars": MetricLabel("Bars", "int"),
    "probabilistic_sharpe_ratio": MetricLabel(
        "Probabilistic Sharpe ratio", "pct", "the Sharpe ratio or the moments are undefined"
    ),
    "deflated_sharpe_ratio": MetricLabel(
        "Deflated Sharpe ratio", "pct", "the Sharpe ratio or the moments are undefined"
    ),
    "pbo": MetricLabel(
        "Probability of backtest overfitting", "pct", "fewer than two combinations or four bars"
    ),
    "ruined": MetricLabel("Ruined (equity reached 0)", "bool"),
    "ruin_bar": MetricLabel("Ruin bar", "int", "the run was not ruined"),
    "ruin_time": MetricLabel("Ruin time", "text", "the run was not ruined"),
    "margin_calls": MetricLabel("Margin calls", "int"),
    "benchmark_return": MetricLabel("Benchmark return", "pct", "no benchmark prices"),
    "alpha": MetricLabel("Alpha (annual)", "pct", "the benchmark did not move"),
    "beta": MetricLabel("Beta", "ratio", "the benchmark did not move"),
    "correlation": MetricLabel("Correlation with benchmark", "ratio", "a flat curve"),
    "tracking_error": MetricLabel("Tracking error", "pct", "fewer than two returns"),
    "information_ratio": MetricLabel(
        "Information ratio", "ratio", "no difference from the benchmark"
    ),
    "avg_drawdown": MetricLabel("Average drawdown", "pct", "never under water"),
    "drawdown_periods": MetricLabel("Drawdown periods", "int"),
    "max_drawdown_duration_days": MetricLabel(
        "Longest drawdown (time)", "days", "never under water"
    ),
    "avg_drawdown_duration_days": MetricLabel(
        "Average drawdown duration", "days", "never under water"
    ),
    "max_drawdown_start": MetricLabel("Max drawdown start", "time", "never under water"),
    "max_drawdown_trough": MetricLabel("Max drawdown trough", "time", "never under water"),
    "max_drawdown_recovery": MetricLabel(
        "Max drawdown recovery", "time", "not recovered by the last bar (or no drawdown)"
    ),
    "sqn": MetricLabel("SQN", "ratio", "fewer than two trades, or all of equal pnl"),
    "kelly_criterion": MetricLabel("Kelly criterion", "pct", "no winning or no losing trade"),
    "avg_trade_duration_days": MetricLabel("Average trade duration", "days", "no trades"),
    "median_trade_duration_days": MetricLabel("Median trade duration", "days", "no trades"),
    "min_trade_duration_days": MetricLabel("Shortest trade", "days", "no trades"),
    "max_trade_duration_days": MetricLabel("Longest trade", "days", "no trades"),
    "avg_bars_held": MetricLabel("Average bars held", "float", "no trades"),
    "best_month_return": MetricLabel("Best month", "pct", "no month with a defined return"),
    "worst_month_return": MetricLabel("Worst month", "pct", "no month with a defined return"),
    "positive_months": MetricLabel("Positive months", "pct", "no month with a defined return"),
    "carry_paid": MetricLabel("Carry paid", "money"),
    "interest_paid": MetricLabel("Interest on negative cash", "money"),
    "borrow_paid": MetricLabel("Short borrow fees", "money"),
    "funding_paid": MetricLabel("Funding paid", "money"),
}

#: How to read each overfitting statistic, one sentence each (the report prints them).
READINGS: dict[str, str] = {
    "probabilistic_sharpe_ratio": (
        "The probability that the chosen combination's true Sharpe ratio is above zero, given "
        "how many returns it has and how skewed and fat-tailed they are; above 95 % is the "
        "usual bar."
    ),
    "deflated_sharpe_ratio": (
        "The same probability against the Sharpe ratio that the best of this many unskilled "
        "combinations would reach by luck: below 50 % the chosen combination did no better "
        "than the best of random ones, above 95 % it survives the multiple testing."
    ),
    "pbo": (
        "The share of the grid's in-sample/out-of-sample splits in which the in-sample best "
        "combination ranks in the bottom half out of sample: near 0 % the selection "
        "generalises, near 50 % or above it is overfit."
    ),
}


def format_metric(name: str, value: Any) -> str:
    """A metric as text: percentages, money with thousands separators, 'undefined' for None."""
    label = LABELS.get(name)
    if value is None:
        return "undefined"
    kind = label.kind if label else "float"
    if kind == "bool" or isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "time":  # ISO 8601 UTC: the date, and the time when it is not midnight
        date, _, clock = str(value).removesuffix("+00:00").partition("T")
        return date if clock in ("", "00:00:00") else f"{date} {clock.removesuffix(':00')}"
    if kind == "text" or isinstance(value, str):
        return str(value)
    if kind == "pct":
        return f"{100 * float(value):,.2f} %"
    if kind == "money":
        return f"{float(value):,.2f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "days":
        return format_days(float(value))
    if kind == "ratio":
        return f"{float(value):.3f}"
    return f"{float(value):,.4g}"


def format_days(days: float) -> str:
    """A duration given in days: ``12.5 d`` from a day up, else hours and minutes."""
    if days >= 1:
        return f"{days:,.1f} d"
    minutes = round(days * 1440)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def label_of(name: str) -> str:
    label = LABELS.get(name)
    return label.label if label else name.replace("_", " ").capitalize()


def undefined_note(name: str) -> str:
    """Why ``name`` has no value, as the report says it."""
    label = LABELS.get(name)
    return f"undefined: {(label.undefined_because if label else '') or 'not defined for this run'}"


def metric_rows(
    metrics: dict[str, Any], benchmark: dict[str, Any] | None = None
) -> list[dict[str, str]]:
    """Rows for a metrics table, known metrics first in a stable order, then any others;
    ``benchmark`` fills a second column for the metrics it has (empty for the others)."""
    names = [name for name in LABELS if name in metrics]
    names += sorted(name for name in metrics if name not in LABELS)
    compared = benchmark or {}
    rows = []
    for name in names:
        value = metrics[name]
        rows.append(
            {
                "name": name,
                "label": label_of(name),
                "value": format_metric(name, value),
                "benchmark": format_metric(name, compared[name]) if name in compared else "",
                "note": undefined_note(name) if value is None else "",
                "css": _sign_class(name, value),
            }
        )
    return rows


def _sign_class(name: str, value: Any) -> str:
    label = LABELS.get(name)
    if value is None or label is None or label.kind not in ("pct", "ratio"):
        return ""
    if name in ("volatility", "exposure") or value == 0:
        return ""
    return "pos" if value > 0 else "neg"
