"""A parameter grid's leaderboard as heatmaps of the grid metric.

One parameter gives a strip, two a heatmap; with more, every pair of parameters gets one
whose cells hold the best value over the other parameters (backtesting.py's
``plot_heatmaps`` with ``agg="max"``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import polars as pl

from worker.engine.grid import LOWER_IS_BETTER
from worker.engine.grid_stats import BOARD_METRICS
from worker.engine.metrics import METRIC_NAMES
from worker.results.colors import scale_color
from worker.results.metric_labels import format_metric, label_of

MAX_PAIRS = 6


@dataclass(frozen=True)
class Cell:
    text: str
    style: str
    title: str


@dataclass(frozen=True)
class Heatmap:
    x_name: str
    y_name: str | None
    x_values: list[str]
    rows: list[tuple[str, list[Cell]]]


@dataclass(frozen=True)
class GridView:
    metric: str
    metric_label: str
    parameters: list[str]
    heatmaps: list[Heatmap]
    note: str


def grid_parameters(leaderboard: pl.DataFrame) -> list[str]:
    return [
        c
        for c in leaderboard.columns
        if c != "rank" and c not in METRIC_NAMES and c not in BOARD_METRICS
    ]


def _value_text(value: object) -> str:
    return "" if value is None else str(value)


def _heatmap(board: pl.DataFrame, metric: str, x: str, y: str | None) -> Heatmap:
    best = pl.col(metric).min() if metric in LOWER_IS_BETTER else pl.col(metric).max()
    keys = [x] if y is None else [x, y]
    cells = board.group_by(keys).agg(best.alias("value"))
    finite = cells["value"].drop_nulls().drop_nans()
    low, high = (finite.min(), finite.max()) if finite.len() else (None, None)
    x_values = sorted(board[x].unique().to_list(), key=_order)
    y_values = [None] if y is None else sorted(board[y].unique().to_list(), key=_order)
    lookup = {tuple(r[:-1]): r[-1] for r in cells.iter_rows()}
    rows = []
    for y_value in y_values:
        row = []
        for x_value in x_values:
            key = (x_value,) if y is None else (x_value, y_value)
            value = lookup.get(key)
            present = key in lookup
            text = format_metric(metric, value) if present else ""
            share = _share(value, low, high, metric in LOWER_IS_BETTER)
            where = f"{x} = {x_value}" + ("" if y is None else f", {y} = {y_value}")
            title = f"{where}: {text}" if present else f"{where}: not in the grid"
            row.append(Cell(text if value is not None else "—", scale_color(share), title))
        rows.append((_value_text(y_value), row))
    return Heatmap(x, y, [_value_text(v) for v in x_values], rows)


def _order(value: object) -> tuple[int, float, str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _share(value: object, low: object, high: object, lower_is_better: bool) -> float | None:
    """Where ``value`` lies between the worst (0) and the best (1) cell."""
    if not isinstance(value, int | float) or value != value:
        return None
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if high == low:
        return 1.0
    share = (float(value) - low) / (high - low)
    return 1.0 - share if lower_is_better else share


def grid_view(leaderboard: pl.DataFrame | None, metric: str) -> GridView | None:
    if leaderboard is None or leaderboard.height == 0 or metric not in leaderboard.columns:
        return None
    parameters = grid_parameters(leaderboard)
    if not parameters:
        return None
    if len(parameters) == 1:
        pairs: list[tuple[str, str | None]] = [(parameters[0], None)]
    else:
        combinations = itertools.islice(itertools.combinations(parameters, 2), MAX_PAIRS)
        pairs = [(x, y) for x, y in combinations]
    direction = "lower" if metric in LOWER_IS_BETTER else "higher"
    note = f"darker is better ({direction} {label_of(metric)}); — marks an undefined value"
    if len(parameters) > 2:
        note += "; each cell is the best over the other parameters"
        total_pairs = len(parameters) * (len(parameters) - 1) // 2
        if total_pairs > MAX_PAIRS:
            note += f"; {MAX_PAIRS} of {total_pairs} pairs shown"
    heatmaps = [_heatmap(leaderboard, metric, x, y) for x, y in pairs]
    return GridView(metric, label_of(metric), parameters, heatmaps, note)
