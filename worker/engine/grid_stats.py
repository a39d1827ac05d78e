"""A grid's overfitting statistics: each combination's probabilistic and deflated Sharpe
ratios (leaderboard columns) and, for the run, those of the chosen combination and the
probability of backtest overfitting over all of them (see ``overfitting``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.engine.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments_from_sums,
    pbo_from_sums,
    probabilistic_sharpe_ratio,
)
from worker.engine.period_sums import PeriodSums

#: Default number of CSCV partitions (C(16, 8) = 12,870 splits, as in the PBO paper).
DEFAULT_PARTITIONS = 16
#: Metrics a grid run adds to its own metrics (the chosen combination's, and the grid's PBO).
RUN_METRICS = ("probabilistic_sharpe_ratio", "deflated_sharpe_ratio", "pbo")
#: Columns the leaderboard adds per combination.
BOARD_METRICS = ("probabilistic_sharpe_ratio", "deflated_sharpe_ratio")


def partitions_for(bars: int, wanted: int) -> int:
    """The CSCV partition count for a curve of ``bars``: ``wanted``, lowered to the largest
    even count leaving at least two bars per partition; 0 (no PBO) under four bars."""
    most = (bars // 2) // 2 * 2
    return min(wanted, most) if most >= 2 else 0


@dataclass(frozen=True)
class GridOverfitting:
    psr: list[float | None]  # per combination, in evaluation order
    dsr: list[float | None]
    pbo: float | None
    summary: dict[str, Any]


def grid_overfitting(
    sharpes: list[float | None],
    sums: list[PeriodSums],
    *,
    bars: int,
    ppy: float,
    threads: int = 1,
) -> GridOverfitting:
    """``sharpes``: each combination's annualised Sharpe ratio (None when undefined);
    ``sums``: its per-partition power sums (all with the same partitions); ``threads``: for
    the PBO's splits."""
    per_period = np.array(
        [math.nan if s is None else s / math.sqrt(ppy) for s in sharpes], dtype=np.float64
    )
    defined = per_period[np.isfinite(per_period)]
    variance = float(np.var(defined, ddof=1)) if defined.size >= 2 else 0.0
    psr: list[float | None] = []
    dsr: list[float | None] = []
    for sr, s in zip(per_period, sums, strict=True):
        total = s.powers.sum(axis=1)
        skew, kurt = moments_from_sums(float(s.counts.sum()), *map(float, total))
        value = None if math.isnan(sr) else float(sr)
        psr.append(probabilistic_sharpe_ratio(value, 0.0, bars, skew, kurt))
        dsr.append(deflated_sharpe_ratio(value, defined, bars, skew, kurt))
    pbo = None
    splits = partitions = 0
    if sums and sums[0].counts.shape[0] >= 2:
        counts = sums[0].counts.astype(np.float64)
        s1 = np.stack([s.powers[0] for s in sums])
        s2 = np.stack([s.powers[1] for s in sums])
        result = pbo_from_sums(counts, s1, s2, threads=threads)
        if result is not None:
            pbo, splits, partitions = result.pbo, result.splits, result.partitions
    summary = {
        "trials": len(sharpes),
        "trial_sharpe_variance": variance * ppy,
        "expected_max_sharpe_ratio": expected_max_sharpe(int(defined.size), variance)
        * math.sqrt(ppy),
        "pbo_partitions": partitions,
        "pbo_splits": splits,
    }
    return GridOverfitting(psr, dsr, pbo, summary)
