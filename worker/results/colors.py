"""Cell colours of the report's heatmaps, as inline CSS (the report has no stylesheet links)."""

from __future__ import annotations

Rgb = tuple[int, int, int]

PALE: Rgb = (246, 248, 251)
BLUE: Rgb = (31, 84, 150)
GREEN: Rgb = (26, 122, 70)
RED: Rgb = (178, 45, 38)


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


_PALE_STYLE = _style(PALE, 0.0)


def scale_color(share: float | None) -> str:
    """Sequential: 0 (worst) pale to 1 (best) deep blue; None (undefined) stays pale."""
    if share is None:
        return _style(PALE, 0.0)
    strength = 0.08 + 0.92 * share
    return _style(_mix(PALE, BLUE, strength), strength)


def signed_color(value: float | None, largest: float) -> str:
    """Diverging around zero: losses red, gains green, by size against ``largest``.
    ``_style(_mix(PALE, GREEN or RED, strength), strength)`` spelt out in one expression: a
    run's monthly heatmap colours a hundred cells or more."""
    if value is None or largest <= 0:
        return _PALE_STYLE
    strength = min(abs(value) / largest, 1.0) ** 0.7
    red, green, blue = GREEN if value > 0 else RED
    return (
        f"background:#{round(PALE[0] + (red - PALE[0]) * strength):02x}"
        f"{round(PALE[1] + (green - PALE[1]) * strength):02x}"
        f"{round(PALE[2] + (blue - PALE[2]) * strength):02x}"
        f";color:{'#ffffff' if strength > 0.55 else '#1d2733'}"
    )
