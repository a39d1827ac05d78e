"""Compiled sums in numpy's exact order, fused with the per-bar values they sum.

``np.sum`` of a contiguous float64 array is a pairwise sum: halves (cut to a multiple of 8)
down to leaves of at most 128 values, each leaf summed in 8 interleaved accumulators. The
kernels here walk the same tree and compute each leaf's values on the fly (into a
128-value buffer) instead of reading them from temporaries, so the sums are bit-for-bit
numpy's while the curve is read once (tests/engine/test_sum_kernels.py).

Values (``mode``), for rows ``j`` of ``x`` (and ``y``):

* ``RETURN_SUMS``: ``r = x[j] / x[j - 1] - 1`` (``c0`` before the first row), and
  ``r``, ``r²``, ``min(r - c1, 0)²``;
* ``CENTRED``: ``dx = x[j] - c1``, ``dy = y[j] - c2``, and ``dx²``, ``dy²``, ``dx·dy``;
* ``RETURNS``: the returns ``rx``, ``ry`` of the curves ``x`` and ``y`` (both from ``c0``
  before the first row), and ``rx``, ``ry``, 0;
* ``CENTRED_RETURNS``: ``CENTRED`` of those returns.
"""

from __future__ import annotations

import numpy as np

from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8
from worker.engine.market import F64

RETURN_SUMS, CENTRED, RETURNS, CENTRED_RETURNS = 0, 1, 2, 3
LEAF = 128
_SUMS = "UniTuple(float64, 3)"


@kernel("float64(float64[::1], int64)")
def leaf_sum(buf: F64, n: int) -> float:
    """numpy's pairwise sum of ``buf[:n]`` for ``n <= 128`` (one leaf)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += buf[i]
        return res
    r0, r1, r2, r3 = buf[0], buf[1], buf[2], buf[3]
    r4, r5, r6, r7 = buf[4], buf[5], buf[6], buf[7]
    i = 8
    stop = n - n % 8
    while i < stop:
        r0 += buf[i]
        r1 += buf[i + 1]
        r2 += buf[i + 2]
        r3 += buf[i + 3]
        r4 += buf[i + 4]
        r5 += buf[i + 5]
        r6 += buf[i + 6]
        r7 += buf[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += buf[i]
        i += 1
    return float(res)


@kernel(
    f"void(int64, {RF8}, {RF8}, float64, float64, float64, int64, int64, float64[:, ::1])",
    error_model="numpy",
)
def _fill(
    mode: int, x: F64, y: F64, c0: float, c1: float, c2: float, lo: int, n: int, buf: F64
) -> None:
    """The leaf's three values per row (see the module's docstring) into ``buf[k, :n]``."""
    if mode == RETURN_SUMS:
        for i in range(n):
            j = lo + i
            r = x[j] / (x[j - 1] if j > 0 else c0) - 1.0
            d = r - c1
            m = d if (d < 0.0 or d != d) else 0.0  # np.minimum(d, 0.0)
            buf[0, i] = r
            buf[1, i] = r * r
            buf[2, i] = m * m
    elif mode == CENTRED:
        for i in range(n):
            dx = x[lo + i] - c1
            dy = y[lo + i] - c2
            buf[0, i] = dx * dx
            buf[1, i] = dy * dy
            buf[2, i] = dx * dy
    else:
        for i in range(n):
            j = lo + i
            rx = x[j] / (x[j - 1] if j > 0 else c0) - 1.0
            ry = y[j] / (y[j - 1] if j > 0 else c0) - 1.0
            if mode == RETURNS:
                buf[0, i] = rx
                buf[1, i] = ry
                buf[2, i] = 0.0
            else:
                dx = rx - c1
                dy = ry - c2
                buf[0, i] = dx * dx
                buf[1, i] = dy * dy
                buf[2, i] = dx * dy


@kernel(f"{_SUMS}(int64, {RF8}, {RF8}, float64, float64, float64, int64, int64, float64[:, ::1])")
def _pairwise(
    mode: int, x: F64, y: F64, c0: float, c1: float, c2: float, lo: int, n: int, buf: F64
) -> tuple[float, float, float]:
    if n <= LEAF:
        _fill(mode, x, y, c0, c1, c2, lo, n, buf)
        return leaf_sum(buf[0], n), leaf_sum(buf[1], n), leaf_sum(buf[2], n)
    n2 = n // 2
    n2 -= n2 % 8
    a = _pairwise(mode, x, y, c0, c1, c2, lo, n2, buf)
    b = _pairwise(mode, x, y, c0, c1, c2, lo + n2, n - n2, buf)
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


@kernel(f"{_SUMS}(int64, {RF8}, {RF8}, float64, float64, float64, int64, int64)")
def block_sums(
    mode: int, x: F64, y: F64, c0: float, c1: float, c2: float, lo: int, hi: int
) -> tuple[float, float, float]:
    """The three sums of ``mode``'s values over rows ``lo .. hi - 1``, each as ``np.sum``
    of that slice of values gives it."""
    buf = np.empty((3, LEAF))
    s = _pairwise(mode, x, y, c0, c1, c2, lo, hi - lo, buf)
    return 0.0 + s[0], 0.0 + s[1], 0.0 + s[2]


@kernel(f"{_SUMS}(int64, {RF8}, {RF8}, float64, float64, float64, int64)")
def blockwise_sums(
    mode: int, x: F64, y: F64, c0: float, c1: float, c2: float, block: int
) -> tuple[float, float, float]:
    """``block_sums`` of consecutive blocks of ``block`` rows, added in block order."""
    n = x.shape[0]
    s0 = s1 = s2 = 0.0
    for lo in range(0, n, block):
        a = block_sums(mode, x, y, c0, c1, c2, lo, min(lo + block, n))
        s0 += a[0]
        s1 += a[1]
        s2 += a[2]
    return s0, s1, s2
