"""Per-partition power sums of a grid combination's per-bar returns, gathered while its
equity curve streams through ``equity_stats.equity_stats`` block by block (never whole).

A grid keeps only ``4 x partitions`` numbers per combination: enough for the Sharpe ratio
of any union of partitions (PBO by CSCV) and for the skewness and kurtosis of the whole
curve (probabilistic and deflated Sharpe ratios), at a few vector passes per block.
"""

from __future__ import annotations

from bisect import bisect_right
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
    ``equity_stats`` fall back to whole-array statistics) gives NaN sums. The running sums
    are Python floats (the same additions as on arrays, without a small-array operation per
    block: grid threads hold the GIL less).
    """

    def __init__(self, bars: int, partitions: int) -> None:
        self._bars = bars
        self._edges = partition_bounds(bars, partitions)
        self._edge_list: list[int] = self._edges.tolist()
        self._s1 = [0.0] * partitions
        self._s2 = [0.0] * partitions
        self._s3 = self._s4 = 0.0
        self._seen = 0

    def __call__(self, lo: int, r: F64, r2: F64, total: float, squares: float) -> None:
        m = r.shape[0]
        hi = lo + m
        self._seen += m
        edges, s1, s2 = self._edge_list, self._s1, self._s2
        first = bisect_right(edges, lo) - 1
        following = [e for e in edges[first + 1 : first + 3] if e < hi]  # the next two edges
        if not following:  # the block lies in one partition
            s1[first] += total
            s2[first] += squares
        elif len(following) == 1:  # one edge: sum the shorter side, the other is the rest
            k = following[0] - lo
            if 2 * k <= m:
                a, b = float(r[:k].sum()), float(r2[:k].sum())
            else:
                a, b = total - float(r[k:].sum()), squares - float(r2[k:].sum())
            s1[first] += a
            s2[first] += b
            s1[first + 1] += total - a
            s2[first + 1] += squares - b
        else:
            inner = [e - lo for e in edges[first + 1 :] if e < hi]
            starts = np.array([0, *inner], dtype=np.intp)
            parts = range(first, first + starts.shape[0])
            for i, a, b in zip(
                parts,
                np.add.reduceat(r, starts).tolist(),
                np.add.reduceat(r2, starts).tolist(),
                strict=True,
            ):
                s1[i] += a
                s2[i] += b
        self._s3 += float(np.einsum("i,i->", r2, r))
        self._s4 += float(np.einsum("i,i->", r2, r2))

    def sums(self) -> PeriodSums:
        counts = np.diff(self._edges)
        powers = np.zeros((4, len(self._s1)))
        if self._seen != self._bars:
            powers.fill(np.nan)
        else:
            powers[0], powers[1] = self._s1, self._s2
            powers[2, 0], powers[3, 0] = self._s3, self._s4
        return PeriodSums(counts, powers)
