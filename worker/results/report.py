"""The run's JSON report and self-contained HTML report (pure: values in, bytes out)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
import polars as pl

from worker import jsonsafe
from worker.results.metric_labels import format_metric, metric_rows

MAX_HTML_TRADES = 2000
MAX_HTML_LEADERBOARD = 200
HEADLINE = ("total_return", "cagr", "sharpe_ratio", "max_drawdown", "win_rate", "total_trades")

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("worker.results", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RunIdentity:
    """Who and what a report is about: enough to reproduce the run."""

    run_id: str
    attempt: int
    worker_id: str
    strategy_name: str
    strategy_version: str
    dataset_name: str
    dataset_hash: str
    dataset_timeframe: str
    symbols: list[str]


def json_report(
    identity: RunIdentity,
    metrics: dict[str, Any],
    resolved_config: dict[str, Any],
    strategy_params: dict[str, Any],
    engine_version: str,
    timings: dict[str, float],
    best_params: dict[str, Any] | None = None,
    grid_summary: dict[str, Any] | None = None,
) -> bytes:
    report = {
        "run_id": identity.run_id,
        "attempt": identity.attempt,
        "worker_id": identity.worker_id,
        "engine_version": engine_version,
        "strategy": {
            "name": identity.strategy_name,
            "version": identity.strategy_version,
            "params": strategy_params,
        },
        "dataset": {
            "name": identity.dataset_name,
            "hash": identity.dataset_hash,
            "timeframe": identity.dataset_timeframe,
            "symbols": identity.symbols,
        },
        "config": resolved_config,
        "metrics": metrics,
        "undefined_metrics": sorted(name for name, value in metrics.items() if value is None),
        "timings_seconds": timings,
        "best_params": best_params,
        "grid": grid_summary,
    }
    text = json.dumps(jsonsafe.clean(report), indent=2, allow_nan=False, sort_keys=False)
    return (text + "\n").encode()


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _trade_rows(trades: pl.DataFrame) -> list[dict[str, str]]:
    rows = []
    for trade in trades.head(MAX_HTML_TRADES).iter_rows(named=True):
        pnl = trade["pnl"]
        rows.append(
            {
                "symbol": trade["symbol"],
                "side": trade["side"],
                "entry_time": _fmt_time(trade["entry_time"]),
                "entry_price": f"{trade['entry_price']:,.4f}",
                "exit_time": _fmt_time(trade["exit_time"]),
                "exit_price": f"{trade['exit_price']:,.4f}",
                "units": f"{trade['units']:,.4g}",
                "fees": f"{trade['fees']:,.2f}",
                "pnl": f"{pnl:,.2f}",
                "ret": f"{100 * trade['return']:.2f} %",
                "exit_reason": trade["exit_reason"],
                "css": "pos" if pnl > 0 else "neg",
            }
        )
    return rows


def _leaderboard(leaderboard: pl.DataFrame | None) -> tuple[list[str], list[list[str]]]:
    if leaderboard is None or leaderboard.height == 0:
        return [], []
    shown = leaderboard.head(MAX_HTML_LEADERBOARD)
    rows = []
    for row in shown.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            is_metric = isinstance(value, float) or value is None
            cells.append(format_metric(column, value) if is_metric else str(value))
        rows.append(cells)
    return list(shown.columns), rows


def html_report(
    identity: RunIdentity,
    metrics: dict[str, Any],
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    chart_png: bytes,
    resolved_config: dict[str, Any],
    strategy_params: dict[str, Any],
    engine_version: str,
    timings: dict[str, float],
    leaderboard: pl.DataFrame | None = None,
    best_params: dict[str, Any] | None = None,
) -> bytes:
    """One HTML file a person opens in a browser: no external scripts, styles or images."""
    cards = []
    for name in HEADLINE:
        value = metrics.get(name)
        css = "" if value is None or name in ("total_trades",) else ("pos" if value > 0 else "neg")
        label = next(row["label"] for row in metric_rows({name: value}))
        cards.append({"label": label, "value": format_metric(name, value), "css": css})
    start = equity["timestamp"].min() if equity.height else None
    end = equity["timestamp"].max() if equity.height else None
    columns, board = _leaderboard(leaderboard)
    page = _templates.get_template("report.html.j2").render(
        run_id=identity.run_id,
        strategy_name=identity.strategy_name,
        strategy_version=identity.strategy_version,
        dataset_name=identity.dataset_name,
        dataset_timeframe=identity.dataset_timeframe,
        dataset_hash=identity.dataset_hash,
        symbols=identity.symbols,
        window=f"{_fmt_time(start)} → {_fmt_time(end)}",  # type: ignore[arg-type]
        cards=cards,
        chart_png_base64=base64.b64encode(chart_png).decode(),
        metric_rows=metric_rows(metrics),
        periods_per_year=metrics.get("periods_per_year"),
        leaderboard=board,
        best_params=", ".join(f"{k} = {v}" for k, v in (best_params or {}).items()),
        leaderboard_columns=columns,
        grid_total=0 if leaderboard is None else leaderboard.height,
        trade_count=trades.height,
        trades=_trade_rows(trades),
        trades_truncated=trades.height > MAX_HTML_TRADES,
        engine_version=engine_version,
        strategy_params=json.dumps(jsonsafe.clean(strategy_params), sort_keys=True),
        resolved_config=json.dumps(jsonsafe.clean(resolved_config), sort_keys=True),
        timings=", ".join(f"{stage} {seconds:.3f} s" for stage, seconds in timings.items()),
    )
    return page.encode()
