"""The run's JSON report and self-contained HTML tearsheet (pure: values in, bytes out).

The HTML file carries everything it needs: the run's data as JSON, the vendored uPlot
library (MIT, `static/uPlot.LICENSE`) and the report's own script and styles, all inline.
A Content-Security-Policy forbids every fetch, so the file works offline and a strategy
name can never load anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import jinja2

from worker import jsonsafe
from worker.engine.api import BacktestResult
from worker.results import report_rows
from worker.results import report_view as view
from worker.results.chart_data import chart_data, script_json
from worker.results.grid_heatmap import grid_parameters, grid_view
from worker.results.metric_labels import format_metric, metric_rows
from worker.results.monthly_table import monthly_table
from worker.results.params_text import compact, config_text
from worker.results.tearsheet import Tearsheet
from worker.results.trade_table import trade_list
from worker.results.walk_forward_view import walk_forward_view

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("worker.results", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RunIdentity:
    """Who and what a report is about: enough to reproduce the run, and how its owner
    named it (label, notes and tags from `runs.config`)."""

    run_id: str
    attempt: int
    worker_id: str
    strategy_name: str
    strategy_version: str
    dataset_name: str
    dataset_hash: str
    dataset_timeframe: str
    symbols: list[str]
    label: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = ()


def title(identity: RunIdentity, result: BacktestResult) -> str:
    """The plot's title: the strategy with the parameters it ran with, and the data."""
    shown = ", ".join(identity.symbols[:6]) + ("…" if len(identity.symbols) > 6 else "")
    name = f"{identity.strategy_name} v{identity.strategy_version}"
    params = compact(result.strategy)
    return f"{name}{f' ({params})' if params else ''} on {identity.dataset_name} ({shown})"


def page_title(identity: RunIdentity, result: BacktestResult) -> str:
    """The browser tab's title, which tells runs of one strategy apart: the label (or the
    strategy), the parameters the run used (a grid's best) and its tags."""
    parts = [identity.label or identity.strategy_name, compact(result.strategy)]
    if identity.tags:
        parts.append(" ".join(f"#{tag}" for tag in identity.tags))
    return " · ".join(part for part in parts if part)


def benchmark_label(symbols: list[str], benchmark: str | None = None) -> str:
    """What the report compares the run with: ``config.benchmark``, else its own symbols."""
    if benchmark is not None:
        return f"Buy & hold {benchmark} (benchmark)"
    if len(symbols) == 1:
        return f"Buy & hold {symbols[0]}"
    return f"Buy & hold, equal weight ({len(symbols)} symbols)"


def json_report(identity: RunIdentity, result: BacktestResult, sheet: Tearsheet) -> bytes:
    metrics = result.metrics
    report = {
        "run_id": identity.run_id,
        "attempt": identity.attempt,
        "worker_id": identity.worker_id,
        "label": identity.label,
        "notes": identity.notes,
        "tags": list(identity.tags),
        "engine_version": result.engine_version,
        "strategy": {
            "name": identity.strategy_name,
            "version": identity.strategy_version,
            "params": result.strategy,
        },
        "dataset": {
            "name": identity.dataset_name,
            "hash": identity.dataset_hash,
            "timeframe": identity.dataset_timeframe,
            "symbols": identity.symbols,
        },
        "config": result.resolved_config,
        "metrics": metrics,
        "undefined_metrics": sorted(name for name, value in metrics.items() if value is None),
        "buy_and_hold": sheet.benchmark_metrics,
        "drawdown_periods": sheet.drawdowns,
        "monthly_returns": sheet.monthly,
        "yearly_returns": sheet.yearly,
        "timings_seconds": result.timings,
        "best_params": result.best_params,
        "grid": result.grid_summary,
        "walk_forward": result.resolved_config.get("walk_forward_summary"),
    }
    return jsonsafe.encode_json(report, indent=True) + b"\n"


@cache
def _static(name: str) -> str:
    return (files("worker.results") / "static" / name).read_text(encoding="utf-8")


def html_report(
    identity: RunIdentity,
    result: BacktestResult,
    sheet: Tearsheet,
    files_of_run: list[str],
) -> bytes:
    """One HTML file a person opens in a browser: no external scripts, styles or images.
    ``files_of_run`` are the run's other files, linked relative to the report."""
    metrics = result.metrics
    equity = result.equity
    fmt = view.time_format(equity["timestamp"]) if equity.height else "%Y-%m-%d"
    start = equity["timestamp"][0] if equity.height else None
    end = equity["timestamp"][-1] if equity.height else None
    bench_label = benchmark_label(identity.symbols, result.resolved_config.get("benchmark"))
    trades_file = "trades.csv" if "trades.csv" in files_of_run else None
    grid_metric = (result.grid_summary or {}).get("metric", "sharpe_ratio")
    grid = grid_view(result.leaderboard, grid_metric)
    board_columns: list[str] = []
    board_rows: list[list[str]] = []
    if grid is not None and result.leaderboard is not None:
        board_columns, board_rows = view.leaderboard_table(
            result.leaderboard, grid_metric, grid_parameters(result.leaderboard)
        )
    data = chart_data(result, sheet.drawdowns, bench_label)
    data["trade_list"] = trade_list(result.trades, fmt != "%Y-%m-%d", trades_file)
    data["monthly"] = monthly_table(sheet.monthly, sheet.yearly)
    returns_and_risk, trade_statistics = view.split_metric_rows(
        metric_rows(metrics, sheet.benchmark_metrics)
    )
    pieces = _templates.get_template("report.html.j2").generate(
        identity=identity,
        title=identity.label or identity.strategy_name,
        page_title=page_title(identity, result),
        params_line=compact(result.strategy),
        config_line=config_text(result.resolved_config),
        window=f"{view.format_time(start, fmt)} → {view.format_time(end, fmt)}",
        bars=equity.height,
        cards=view.cards(metrics, sheet.benchmark_metrics),
        benchmark_label=bench_label,
        metric_rows=report_rows.metric_table_rows(returns_and_risk, benchmark=True),
        trade_metric_rows=report_rows.metric_table_rows(trade_statistics, benchmark=False),
        periods_per_year=format_metric("periods_per_year", metrics.get("periods_per_year")),
        risk_free_rate=f"{100 * float(result.resolved_config.get('risk_free_rate') or 0):g} %",
        drawdowns=bool(sheet.drawdowns),
        drawdown_rows=report_rows.drawdown_table_rows(view.drawdown_rows(sheet.drawdowns, fmt)),
        months=view.MONTHS,
        yearly_rows=report_rows.yearly_table_rows(
            view.yearly_rows(sheet.yearly, sheet.benchmark_yearly)
        ),
        grid=grid,
        overfitting=view.overfitting_rows(metrics) if grid is not None else [],
        walk_forward=walk_forward_view(result.walk_forward),
        grid_summary=result.grid_summary or {},
        best_params=", ".join(f"{k} = {v}" for k, v in (result.best_params or {}).items()),
        board_columns=board_columns,
        board_rows=board_rows,
        grid_total=0 if result.leaderboard is None else result.leaderboard.height,
        trade_count=result.trades.height,
        downsampled=data["points"] < data["bars"],
        points=data["points"],
        trades_marked=data["trades"] is not None,
        files_of_run=files_of_run,
        engine_version=result.engine_version,
        strategy_params=json.dumps(jsonsafe.clean(result.strategy), sort_keys=True),
        resolved_config=json.dumps(jsonsafe.clean(result.resolved_config), sort_keys=True),
        timings=", ".join(f"{stage} {seconds:.3f} s" for stage, seconds in result.timings.items()),
        run_data=script_json(data),
        uplot_js=_static("uPlot.iife.min.js"),
        uplot_css=_static("uPlot.min.css"),
        report_js=_static("report.js"),
        report_css=_static("report.css"),
    )
    # Each piece encoded alone: the large ones (the data, the scripts) are ASCII and copied
    # as they are; joined as one text first, the page's few non-ASCII characters made every
    # character of it two bytes wide, then narrowed again by the encoding (half the time).
    return b"".join([piece.encode() for piece in pieces])
