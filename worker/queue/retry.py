"""Exponential backoff with full jitter, for retried runs and for reconnecting."""

from __future__ import annotations

import random


def backoff_seconds(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Delay before retry number `attempt` (1-based): uniform in [d/2, d], d = base·2^(n-1).

    Half-jitter keeps a floor (a retry never fires at once) while spreading a thundering
    herd of workers that all failed at the same moment.
    """
    exponent = min(max(attempt - 1, 0), 62)
    delay = min(cap, base * (2.0**exponent))
    return (rng or random).uniform(delay / 2, delay)
