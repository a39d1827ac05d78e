"""Per-partition power sums of a grid combination's per-bar returns, gathered while its
equity curve streams through ``metrics.equity_stats`` block by block (never whole).

A grid keeps only ``4 x partitions`` numbers per combination: enough for the Sharpe ratio
of any union of partitions (PBO by CSCV) and for the skewness and kurtosis of the whole
curve (probabilistic and deflated Sharpe ratios), at a few vector passes per block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker.engine.metrics import EquityBlock
from worker.engine.overfitting import partition_bounds

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PeriodSums:
    """``counts[s]`` bars in partition ``s``; ``powers[k - 1, s]`` = Σ r^k there (k = 1..4)."""

    counts: I64
    powers: F64


class PeriodSumsRecorder:
    """Wraps an equity block producer; the first sequential pass over the curve (the one
    ``equity_stats`` makes) is summed into ``sums()``, later re-reads are passed through."""

    def __init__(self, block: EquityBlock, bars: int, initial: float, partitions: int) -> None:
        self._block = block
        self._edges = partition_bounds(bars, partitions)
        self._powers = np.zeros((4, partitions))
        self._next = 0
        self._prev = float(initial)

    def __call__(self, lo: int, hi: int) -> F64:
        e = self._block(lo, hi)
        if lo == self._next and hi > lo:
            self._add(lo, hi, e)
            self._next = hi
        return e

    def _add(self, lo: int, hi: int, e: F64) -> None:
        r = np.empty(e.shape[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(e[:1], self._prev, out=r[:1])
            np.divide(e[1:], e[:-1], out=r[1:])
        r -= 1.0
        self._prev = float(e[-1])
        first = int(np.searchsorted(self._edges, lo, side="right")) - 1
        inner = self._edges[(self._edges > lo) & (self._edges < hi)]
        starts = np.concatenate([[0], inner - lo]).astype(np.intp)
        parts = slice(first, first + starts.shape[0])
        r2 = r * r
        self._powers[0, parts] += np.add.reduceat(r, starts)
        self._powers[1, parts] += np.add.reduceat(r2, starts)
        self._powers[3, parts] += np.add.reduceat(r2 * r2, starts)
        r2 *= r
        self._powers[2, parts] += np.add.reduceat(r2, starts)

    def sums(self) -> PeriodSums:
        return PeriodSums(np.diff(self._edges), self._powers.copy())
