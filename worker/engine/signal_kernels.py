"""Compiled kernels of the indicator and signal loops (indicators.py's wrappers call them).

Each one repeats the whole-array numpy expression it replaces, operation for operation,
so the values are bit-for-bit those of numpy (tests/engine/test_signal_kernels.py).
"""

from __future__ import annotations

import numpy as np

from worker.engine.grid_kernel import BLOCK, compare_averages
from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8, RI8
from worker.engine.market import F64, I8, I64


@kernel(f"void({RF8}, {RI8}, {RI8}, float64[::1])")
def rebased_cumsum(x: F64, starts: I64, ends: I64, out: F64) -> None:
    """Per block ``[starts[k], ends[k])``: ``out = cumsum(x - x[first row])``."""
    for k in range(starts.shape[0]):
        lo, hi = starts[k], ends[k]
        if hi <= lo:
            continue
        base = x[lo]
        acc = x[lo] - base
        out[lo] = acc
        for i in range(lo + 1, hi):
            acc += x[i] - base
            out[i] = acc


@kernel(f"void({RF8}, {RF8}, int64, {RI8}, {RI8}, float64[::1])")
def sma_window(x: F64, csum: F64, period: int, starts: I64, ends: I64, out: F64) -> None:
    """Per block: NaN for the first ``period - 1`` rows, then
    ``(csum[t] - csum[t - period]) / period + x[first row]`` (``csum[t] / period + x[first
    row]`` on the first full window)."""
    for k in range(starts.shape[0]):
        lo, hi = starts[k], ends[k]
        first = min(lo + period - 1, hi)
        for i in range(lo, first):
            out[i] = np.nan
        if hi - lo < period:
            continue
        base = x[lo]
        out[first] = csum[first] / period + base
        for i in range(first + 1, hi):
            out[i] = (csum[i] - csum[i - period]) / period + base


@kernel("void(int8[::1], int64, int64)")
def _hold_crosses(out: I8, lo: int, hi: int) -> None:
    """Rows ``[lo, hi)`` of ``out`` from the sign of the difference of two averages to the
    position: 0 until the first strict cross (a step of ±2 between consecutive rows), then
    the side of the last one."""
    pos = np.int8(0)
    prev = out[lo]
    out[lo] = 0
    for i in range(lo + 1, hi):
        c = out[i]
        pos = c if c * prev == -1 else pos
        prev = c
        out[i] = pos


@kernel(f"void({RF8}, {RF8}, {RI8}, {RI8}, int8[::1])")
def cross_position(a: F64, b: F64, starts: I64, ends: I64, out: I8) -> None:
    """Per block: 0 until the first strict cross, then the side of the last one.

    ``cmp = (a > b) - (a < b)`` (0 for ties and NaN), first for every row (a loop the
    compiler vectorises); a strict cross is a step of ±2 of ``cmp`` between consecutive
    rows (``cmp · previous cmp == -1``), and the position after it is ``cmp``."""
    for i in range(a.shape[0]):
        out[i] = np.int8(a[i] > b[i]) - np.int8(a[i] < b[i])
    for k in range(starts.shape[0]):
        lo, hi = starts[k], ends[k]
        if hi <= lo:
            continue
        _hold_crosses(out, lo, hi)


@kernel(f"float64({RF8}, float64, int64, int64, int64)")
def _sma_row(csum: F64, base: float, period: int, lo: int, i: int) -> float:
    """``sma_window``'s value at row i of the block starting at ``lo``."""
    if i < lo + period - 1:
        return np.nan
    if i == lo + period - 1:
        return float(csum[i] / period + base)
    return float((csum[i] - csum[i - period]) / period + base)


@kernel(f"void({RF8}, {RF8}, int64, int64, {RI8}, {RI8}, int8[::1])")
def sma_cross_position(
    x: F64, csum: F64, fast: int, slow: int, starts: I64, ends: I64, out: I8
) -> None:
    """``cross_position`` of the ``sma_window`` averages of periods ``fast`` and ``slow``
    without the two average arrays: per block, the sign of their difference row by row
    from the running sum ``csum`` (``grid_kernel.compare_averages``, which divides only
    where two averages are too close to tell apart by a multiplication; with
    ``fast >= slow`` the same operations as ``sma_window``), then turned into positions
    as ``cross_position`` does."""
    longest = max(fast, slow)
    cmp = np.zeros(min(BLOCK, max(out.shape[0], 1)) + 1, dtype=np.int8)
    for k in range(starts.shape[0]):
        lo, hi = starts[k], ends[k]
        if hi <= lo:
            continue
        base = x[lo]
        if fast < slow:
            block = csum[lo:hi]
            pos = np.int8(0)
            prev = np.int8(0)
            for c0 in range(0, hi - lo, BLOCK):
                m = min(BLOCK, hi - lo - c0)
                compare_averages(block, base, fast, slow, c0, m, cmp)
                for j in range(m):
                    c = cmp[j + 1]
                    pos = c if c * prev == -1 else pos
                    prev = c
                    out[lo + c0 + j] = pos
            out[lo] = 0
            continue
        edge = min(lo + longest, hi)  # rows before it: a window may be short or first
        for i in range(lo, edge):
            a = _sma_row(csum, base, fast, lo, i)
            b = _sma_row(csum, base, slow, lo, i)
            out[i] = np.int8(a > b) - np.int8(a < b)
        count = hi - edge
        # views indexed from 0: numba drops the negative-index checks and vectorises
        now = csum[edge:hi]
        back_f = csum[edge - fast : edge - fast + count]
        back_s = csum[edge - slow : edge - slow + count]
        cells = out[edge:hi]
        for j in range(count):
            a = (now[j] - back_f[j]) / fast + base
            b = (now[j] - back_s[j]) / slow + base
            cells[j] = np.int8(a > b) - np.int8(a < b)
        _hold_crosses(out, lo, hi)
