"""Annualisation, in one place: how per-bar figures become yearly ones.

``ppy`` is the run's periods per year (docs/engine.md, periods_per_year inference). Means
scale by ``ppy``, deviations by ``√ppy``, growth compounds over ``ppy / n`` of the bars, and
an annual rate becomes a per-bar rate geometrically (as quantstats does), so ``ppy`` bars at
the per-bar rate compound to exactly the annual one.
"""

from __future__ import annotations

import math


def per_period_rate(annual_rate: float, ppy: float) -> float:
    """``(1 + annual_rate)^(1 / ppy) - 1``: the per-bar rate that compounds to ``annual_rate``."""
    if annual_rate == 0.0:
        return 0.0
    return float((1.0 + annual_rate) ** (1.0 / ppy) - 1.0)


def annualise_mean(mean: float, ppy: float) -> float:
    return mean * ppy


def annualise_deviation(sd: float, ppy: float) -> float:
    return sd * math.sqrt(ppy)


def annualise_ratio(per_bar_ratio: float, ppy: float) -> float:
    """A mean over a deviation of per-bar figures (Sharpe, information ratio) per year."""
    return per_bar_ratio * math.sqrt(ppy)


def annualise_growth(growth: float, bars: int, ppy: float) -> float:
    """``growth^(ppy / bars) - 1``: the yearly rate of a total growth factor over ``bars``."""
    return float(growth ** (ppy / bars) - 1.0)


def compound_mean(mean: float, ppy: float) -> float:
    """``(1 + mean)^ppy - 1``: a per-bar mean return compounded over a year (empyrical's
    annualisation of alpha)."""
    return float((1.0 + mean) ** ppy - 1.0)
