"""Per-partition power sums of a grid combination's per-bar returns, gathered while its
equity curve streams through ``equity_stats.equity_stats`` block by block (never whole).

A grid keeps only ``4 x partitions`` numbers per combination: enough for the Sharpe ratio
of any union of partitions (PBO by CSCV) and for the skewness and kurtosis of the whole
curve (probabilistic and deflated Sharpe ratios), at a few vector passes per block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker.engine.overfitting import partition_bounds

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeriodSums:
    """``counts[s]`` bars in partition ``s``; ``powers[k - 1, s]`` = Σ r^k there for k = 1, 2;
    for k = 3, 4 the whole curve's sum is in ``powers[k - 1, 0]`` (the rest are 0)."""

    counts: I64
    powers: F64


class PeriodSumsRecorder:
    """An ``equity_stats`` observer: sums each block's returns into its partitions.

    Σr and Σr² are kept per partition, Σr³ and Σr⁴ only for the whole curve (the moments
    need no more). A curve that was not seen whole (non-finite values make
    ``equity_stats`` fall back to whole-array statistics) gives NaN sums.
    """

    def __init__(self, bars: int, partitions: int) -> None:
        self._bars = bars
        self._edges = partition_bounds(bars, partitions)
        self._powers = np.zeros((4, partitions))
        self._seen = 0

    def __call__(self, lo: int, r: F64, r2: F64, total: float, squares: float) -> None:
        hi = lo + r.shape[0]
        self._seen += r.shape[0]
        edges = self._edges
        first = int(np.searchsorted(edges, lo, side="right")) - 1
        following = edges[first + 1 : first + 3]  # the next two edges, where they exist
        inner = following[following < hi]
        if inner.shape[0] == 0:  # the block lies in one partition
            self._powers[:2, first] += (total, squares)
        elif inner.shape[0] == 1:  # one edge: sum the shorter side, the other is the rest
            k = int(inner[0]) - lo
            part = slice(None, k) if 2 * k <= r.shape[0] else slice(k, None)
            a, b = float(r[part].sum()), float(r2[part].sum())
            left = (a, b) if part.stop is not None else (total - a, squares - b)
            self._powers[:2, first] += left
            self._powers[:2, first + 1] += (total - left[0], squares - left[1])
        else:
            inner = edges[(edges > lo) & (edges < hi)]
            starts = np.concatenate([[0], inner - lo]).astype(np.intp)
            parts = slice(first, first + starts.shape[0])
            self._powers[0, parts] += np.add.reduceat(r, starts)
            self._powers[1, parts] += np.add.reduceat(r2, starts)
        self._powers[2, 0] += float(np.einsum("i,i->", r2, r))
        self._powers[3, 0] += float(np.einsum("i,i->", r2, r2))

    def sums(self) -> PeriodSums:
        powers = (
            self._powers.copy() if self._seen == self._bars else np.full_like(self._powers, np.nan)
        )
        return PeriodSums(np.diff(self._edges), powers)
