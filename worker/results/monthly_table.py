"""The HTML report's monthly heatmap as data: the returns, coloured and written by the browser.

A run of ten years has 130 cells, each a colour and a text; made in Python they were a fifth
of a daily run's report (0.3 ms of 1.5). Here the values go into the run's JSON and
``static/report.js`` writes the rows (``monthlyRows``): colours mixed as ``colors`` mixes the
grid heatmap's (pale to green for gains, red for losses) and the texts of
``report_view.signed_pct`` (``{:+.2f} %``).
"""

from __future__ import annotations

from typing import Any

from worker.engine.calendar_returns import PeriodReturn


def monthly_table(monthly: list[PeriodReturn], yearly: list[PeriodReturn]) -> dict[str, Any]:
    """One row per year: its twelve months (a return, ``None`` when undefined, ``False``
    without bars) and its own return; each coloured against the largest month (the largest
    year)."""
    by_month = {(r.year, r.month): r.value for r in monthly}
    return {
        "years": [r.year for r in yearly],
        "months": [[by_month.get((r.year, m), False) for m in range(1, 13)] for r in yearly],
        "year": [r.value for r in yearly],
        "largest": _largest(monthly),
        "largest_year": _largest(yearly),
    }


def _largest(returns: list[PeriodReturn]) -> float:
    return max((abs(r.value) for r in returns if r.value is not None), default=0.0)
