"""A walk-forward run's folds and its in-sample vs out-of-sample degradation, as report rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.engine.walk_forward import WalkForward
from worker.results.metric_labels import format_metric, label_of


@dataclass(frozen=True)
class WalkForwardView:
    metric_label: str
    summary: list[tuple[str, str]]
    columns: list[str]
    rows: list[list[str]]


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def walk_forward_view(wf: WalkForward | None) -> WalkForwardView | None:
    if wf is None:
        return None
    s = wf.summary
    metric = s["metric"]
    optimum = s["in_sample_optimum"]
    efficiency = s["efficiency"]
    summary = [
        ("Folds", str(s["folds"])),
        (f"Mean in-sample {label_of(metric)}", format_metric(metric, s["in_sample_mean"])),
        (f"Mean out-of-sample {label_of(metric)}", format_metric(metric, s["out_of_sample_mean"])),
        (
            "Walk-forward efficiency (out-of-sample mean / in-sample mean)",
            "undefined (in-sample mean not positive)"
            if efficiency is None
            else f"{efficiency:.2f}",
        ),
        (
            f"Stitched out-of-sample {label_of(metric)} / total return",
            f"{format_metric(metric, s['out_of_sample'][metric])} / "
            f"{format_metric('total_return', s['out_of_sample']['total_return'])}",
        ),
        (
            f"In-sample optimum on the same bars ({optimum['params']})",
            f"{format_metric(metric, optimum[metric])} / "
            f"{format_metric('total_return', optimum['total_return'])}",
        ),
    ]
    columns = [
        "fold",
        "train",
        "test",
        "best parameters",
        f"in-sample {label_of(metric)}",
        f"out-of-sample {label_of(metric)}",
        "test return",
    ]
    rows = [
        [
            str(r["fold"]),
            f"{_time(r['train_start'])} → {_time(r['train_end'])} ({r['train_bars']:,} bars)",
            f"{_time(r['test_start'])} → {_time(r['test_end'])} ({r['test_bars']:,} bars)",
            r["params"],
            format_metric(metric, r["in_sample"]),
            format_metric(metric, r["out_of_sample"]),
            format_metric("total_return", r["test_return"]),
        ]
        for r in wf.folds.iter_rows(named=True)
    ]
    return WalkForwardView(label_of(metric), summary, columns, rows)
