"""How `runs list`, `runs show` and `runs compare` lay out what runs used and gave (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from rich.markup import escape

from worker.admin.run_summary import RunSummary
from worker.cli.tables import Col
from worker.results.metric_labels import format_metric, label_of
from worker.results.params_text import KEY_CONFIG, compact, config_text

STATUS_STYLE = {
    "pending": "yellow",
    "running": "cyan",
    "waiting": "blue",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def styled_status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def grid_axes(summary: RunSummary) -> str:
    """`fast_period×7 slow_period×6 (42)`: the values each parameter takes, and the total."""
    grid = summary.grid or {}
    size = 1
    for values in grid.values():
        size *= len(values) if isinstance(values, list) else 1
    axes = " ".join(f"{name}×{len(v) if isinstance(v, list) else 1}" for name, v in grid.items())
    return f"{axes} ({size})"


def grid_text(summary: RunSummary) -> str:
    """The grid's axes, and the best combination once known."""
    text = f"grid {grid_axes(summary)}"
    if summary.best_params:
        text += f": best {compact(summary.best_params)}"
    return text


def params_cell(summary: RunSummary) -> str:
    """What tells this run apart: the best of its grid, or its effective parameters."""
    if summary.grid is not None:
        if summary.best_params:
            return f"best {compact(summary.best_params)} (grid)"
        return grid_text(summary)
    return compact(summary.params) or "-"


def _metric(summary: RunSummary, name: str) -> str:
    if summary.status != "succeeded" or name not in summary.metrics:
        return ""
    return format_metric(name, summary.metrics[name])


#: The strategy and the parameters share a column, so that at 80 columns they fold into the
#: same lines rather than each needing the width of its longest word.
LIST_COLUMNS = (
    Col("id"),
    Col("strategy · params", wrap=True),
    Col("label", wrap=True, drop=2),
    Col("status"),
    Col("error", drop=1),
    Col("return", numeric=True),
    Col("sharpe", numeric=True, drop=5),
    Col("max dd", numeric=True, drop=6),
    Col("trades", numeric=True, drop=7),
    Col("dataset", wrap=True, drop=8),
    Col("created", drop=9),
)


def list_table(
    summaries: Sequence[RunSummary], short: dict[uuid.UUID, str]
) -> tuple[list[Col], list[list[str]]]:
    """Columns and rows of `runs list`; the label and error columns only when a run has one."""
    rows = [
        [
            short.get(s.id, str(s.id)),
            f"{escape(s.strategy)} · {escape(params_cell(s))}",
            escape(s.label or ""),
            styled_status(s.status),
            s.error_type or "",
            _metric(s, "total_return"),
            _metric(s, "sharpe_ratio"),
            _metric(s, "max_drawdown"),
            "" if "total_trades" not in s.metrics else str(s.metrics["total_trades"]),
            escape(s.dataset),
            s.created_at.strftime("%Y-%m-%d %H:%M"),
        ]
        for s in summaries
    ]
    keep = [
        i
        for i, col in enumerate(LIST_COLUMNS)
        if col.header not in ("label", "error") or any(row[i] for row in rows)
    ]
    return [LIST_COLUMNS[i] for i in keep], [[row[i] for i in keep] for row in rows]


def show_lines(summary: RunSummary, registered: dict[str, Any]) -> list[str]:
    """The lines of `runs show` about what the run used (markup allowed)."""
    lines = []
    if summary.label or summary.tags:
        tags = f"  tags {', '.join(summary.tags)}" if summary.tags else ""
        lines.append(f"label    {summary.label or '-'}{tags}")
    kind = f" ({summary.strategy_kind})" if summary.strategy_kind else ""
    lines.append(f"strategy {summary.strategy}{kind}")
    used = "best of the grid" if summary.best_params else "effective"
    lines.append(f"params   {compact(summary.params) or '-'}  [dim]({used})[/]")
    if summary.overrides:
        lines.append(f"         overrides {compact(summary.overrides, skip=())}")
    if (summary.overrides or summary.best_params) and summary.params != registered:
        lines.append(f"         registered {compact(registered) or '-'}")
    if summary.grid is not None:
        lines.append(f"grid     {grid_text(summary)}")
    lines.append(f"config   {config_text(summary.config) or 'defaults'}")
    lines.append(f"dataset  {summary.dataset}")
    return lines


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return compact(value, skip=())
    return str(value)


def _time(value: Any) -> str:
    """An ISO time as its date when it is midnight UTC (a daily window's bounds)."""
    text = _value(value)
    return text[:10] if text.endswith("T00:00:00+00:00") else text


def compare_table(
    summaries: Sequence[RunSummary], short: dict[uuid.UUID, str]
) -> tuple[list[Col], list[list[str]]]:
    """One column per run, one row per field; a `*` marks the fields whose values differ.
    For a grid, the parameters are those of its best combination."""
    fields: list[tuple[str, list[str]]] = [
        ("status", [styled_status(s.status) for s in summaries]),
        ("strategy", [s.strategy for s in summaries]),
        ("dataset", [s.dataset for s in summaries]),
    ]
    if any(s.label for s in summaries):
        fields.append(("label", [s.label or "" for s in summaries]))
    if any(s.tags for s in summaries):
        fields.append(("tags", [", ".join(s.tags) for s in summaries]))
    names = list(dict.fromkeys(k for s in summaries for k in s.params))
    fields += [(name, [_value(s.params.get(name)) for s in summaries]) for name in names]
    if any(s.grid is not None for s in summaries):
        fields.append(("grid", ["" if s.grid is None else grid_axes(s) for s in summaries]))
    for key in KEY_CONFIG:
        if any(key in s.config for s in summaries):
            show = _time if key in ("start", "end") else _value
            fields.append((key, [show(s.config.get(key)) for s in summaries]))
    for name in ("total_return", "cagr", "sharpe_ratio", "max_drawdown", "win_rate"):
        if any(name in s.metrics for s in summaries):
            fields.append((label_of(name), [_metric(s, name) for s in summaries]))
    if any("total_trades" in s.metrics for s in summaries):
        fields.append(("Trades", [_metric(s, "total_trades") for s in summaries]))
    if any(s.error_type for s in summaries):
        fields.append(("error", [s.error_type or "" for s in summaries]))
    columns = [Col("")] + [
        Col(short.get(s.id, str(s.id)), numeric=True, wrap=True) for s in summaries
    ]
    rows = [[f"{name} *" if len(set(values)) > 1 else name, *values] for name, values in fields]
    return columns, rows
