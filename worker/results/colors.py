"""Cell colours of the grid heatmap, as inline CSS (the report has no stylesheet links).

The monthly heatmap's colours are mixed the same way by the page's script (``signedColor``
in ``static/report.js``): from this pale to green for gains, red for losses."""

from __future__ import annotations

Rgb = tuple[int, int, int]

PALE: Rgb = (246, 248, 251)
BLUE: Rgb = (31, 84, 150)


def _mix(a: Rgb, b: Rgb, t: float) -> Rgb:
    # spelt out, not a generator over zip: a report colours a few hundred cells
    t = min(max(t, 0.0), 1.0)
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _style(rgb: Rgb, strength: float) -> str:
    ink = "#ffffff" if strength > 0.55 else "#1d2733"
    return f"background:#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x};color:{ink}"


def scale_color(share: float | None) -> str:
    """Sequential: 0 (worst) pale to 1 (best) deep blue; None (undefined) stays pale."""
    if share is None:
        return _style(PALE, 0.0)
    strength = 0.08 + 0.92 * share
    return _style(_mix(PALE, BLUE, strength), strength)
