"""One symbol's buy-and-hold curve, its per-bar returns and their sum, in one pass.

The analysis took three passes over a million bars for what the benchmark needs of the buy
and hold: the curve (``curve_kernels.scaled_growth``), its returns
(``return_metrics.returns_from_equity``) and their mean (``np.mean`` in
``benchmark_metrics.benchmark_stats``). Here each stretch of bars is written and summed
while it is in cache: the pass follows numpy's pairwise order (``numpy_sums``), filling the
bars of each span of its tree just before it sums them, so every value and the sum are
numpy's, bit for bit (tests/engine/test_growth_sums.py).
"""

from __future__ import annotations

import numpy as np

from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8
from worker.engine.market import F64
from worker.engine.numpy_sums import _pairwise

_OUT = "float64[::1]"

#: The pass fills the bars of a span of the pairwise tree this short at once, then sums it.
FILL_SPAN = 4096


@kernel(
    f"float64({RF8}, float64, float64, {_OUT}, {_OUT}, int64, int64, boolean)",
    error_model="numpy",
)
def _growth_pairwise(
    close: F64, first: float, capital: float, values: F64, returns: F64, lo: int, n: int,
    kept: bool,
) -> float:  # fmt: skip
    """``numpy_sums._pairwise(returns, lo, n)``, each span's values and returns written
    just before it is summed (the bars before ``lo`` already are). Unless ``kept``,
    ``returns`` holds only the span being summed, from its first slot."""
    if n <= FILL_SPAN:
        at = lo if kept else 0
        # views indexed from 0: numba drops the negative-index checks and vectorises
        prices, now, out = close[lo : lo + n], values[lo : lo + n], returns[at : at + n]
        for i in range(n):
            now[i] = prices[i] / first * capital
        start = 0
        if lo == 0:
            out[0] = now[0] / capital - 1.0
            start = 1
        then = values[lo + start - 1 : lo + n - 1]
        ahead, into = now[start:], out[start:]
        for i in range(n - start):
            into[i] = ahead[i] / then[i] - 1.0
        return _pairwise(returns, at, n)
    n2 = n // 2
    n2 -= n2 % 8
    left = _growth_pairwise(close, first, capital, values, returns, lo, n2, kept)
    return left + _growth_pairwise(close, first, capital, values, returns, lo + n2, n - n2, kept)


@kernel(f"float64({RF8}, float64, {_OUT}, {_OUT})", error_model="numpy")
def growth_returns(close: F64, capital: float, values: F64, returns: F64) -> float:
    """``values = close / close[0] * capital``, ``returns = returns_from_equity(values,
    capital)``; returns ``np.sum(returns)``. A ``returns`` shorter than the closes
    (``FILL_SPAN`` slots) is scratch: the returns are summed, not kept."""
    n = close.shape[0]
    if n == 0:
        return 0.0
    kept = returns.shape[0] >= n
    return 0.0 + _growth_pairwise(close, close[0], capital, values, returns, 0, n, kept)


def buy_and_hold_returns(close: F64, capital: float) -> tuple[F64, F64, float]:
    """(the buy-and-hold values, their per-bar returns, the returns' ``np.mean``)."""
    n = close.shape[0]
    values, returns = np.empty(n), np.empty(n)
    total = growth_returns(np.ascontiguousarray(close), float(capital), values, returns)
    return values, returns, total / n if n else np.nan


def buy_and_hold_mean(close: F64, capital: float) -> tuple[F64, float]:
    """(the buy-and-hold values, their per-bar returns' ``np.mean``): the returns summed
    span by span in a scratch buffer, not kept (the benchmark metrics recompute them from
    the values, ``moment_kernels.curve_centred_sums``)."""
    n = close.shape[0]
    values, scratch = np.empty(n), np.empty(min(n, FILL_SPAN))
    total = growth_returns(np.ascontiguousarray(close), float(capital), values, scratch)
    return values, total / n if n else np.nan
