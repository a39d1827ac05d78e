"""The report's hand-built rows against the library function they spell out."""

from __future__ import annotations

import pytest
from markupsafe import escape

from worker.results.report_rows import escaped

HOSTILE = [
    "",
    "plain",
    "<script>alert('x')</script>",
    'a "quoted" & <b>bold</b> label',
    "&amp; already escaped",
    "non-ASCII é → · — ▲",
    "\u2028\x00\x1f",
]


@pytest.mark.parametrize("value", [*HOSTILE, 0, -12, 2026, 0.0, 12.5, -0.001, 1e-300])
def test_escaped_is_markupsafes_escape(value: object) -> None:
    assert escaped(value) == str(escape(value))
