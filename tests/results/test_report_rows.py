"""The report's hand-built rows against the library functions they spell out."""

from __future__ import annotations

import random

import pytest
from markupsafe import escape

from worker.results.colors import GREEN, PALE, RED, _mix, _style, signed_color
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


def _reference_signed_color(value: float | None, largest: float) -> str:
    if value is None or largest <= 0:
        return _style(PALE, 0.0)
    strength = min(abs(value) / largest, 1.0) ** 0.7
    return _style(_mix(PALE, GREEN if value > 0 else RED, strength), strength)


def test_signed_color_is_the_mixed_style() -> None:
    rng = random.Random(13)
    values = [rng.uniform(-0.4, 0.4) for _ in range(20_000)]
    values += [None, 0.0, -0.0, 1e-300, -1e-300, 0.3, -0.3, 0.4, 5.0, float("inf")]
    for value in values:
        for largest in (0.3, 0.05, 0.0, -1.0):
            assert signed_color(value, largest) == _reference_signed_color(value, largest)
