"""Compiled kernels of the per-bar values a curve's sums are taken of: ``return_values``
leaves the sums to numpy, ``centred_sums`` adds them in numpy's order (numpy_sums.py), so
every sum is the one numpy gave before (tests/engine/test_moment_kernels.py).
``curve_centred_sums`` is ``centred_sums`` of two curves' returns, each return computed as
``return_values`` does while its block is summed: the per-bar returns are never stored
(two 8 MB arrays fewer to write on a million bars, the same time to read the curves).
"""

from __future__ import annotations

import numpy as np

from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8
from worker.engine.market import F64
from worker.engine.numpy_sums import PAIRWISE_BLOCK, leaf_sums3, leaf_totals3, pairwise_sums3

_OUT3 = "float64[::1], float64[::1], float64[::1]"


@kernel(f"void({RF8}, float64, float64, {_OUT3})", error_model="numpy")
def return_values(e: F64, prev: float, threshold: float, r: F64, sq: F64, down: F64) -> None:
    """Per bar of the block ``e``: ``r = e / previous - 1`` (``prev`` before the first),
    ``sq = r²`` and ``down = min(r - threshold, 0)²``."""
    before = prev
    for i in range(e.shape[0]):
        x = e[i]
        ri = x / before - 1.0
        before = x
        d = ri - threshold
        m = d if (d < 0.0 or d != d) else 0.0  # np.minimum(d, 0.0)
        r[i] = ri
        sq[i] = ri * ri
        down[i] = m * m


#: Rows per part of a ``centred_sums`` block of a power of two rows: a part's products are
#: summed leaf by leaf while in the L1 cache (a whole block's spill the L2).
PART = 4096


@kernel(f"void({RF8}, {RF8}, float64, float64, {_OUT3})", error_model="numpy")
def _part_products(x: F64, y: F64, mx: float, my: float, xx: F64, yy: F64, xy: F64) -> None:
    for i in range(x.shape[0]):
        dx = x[i] - mx
        dy = y[i] - my
        xx[i] = dx * dx
        yy[i] = dy * dy
        xy[i] = dx * dy


@kernel(f"UniTuple(float64, 3)({RF8}, {RF8}, float64, float64, int64)", error_model="numpy")
def centred_sums(x: F64, y: F64, mx: float, my: float, block: int) -> tuple[float, float, float]:
    """``(Σ dx², Σ dy², Σ dx·dy)`` with ``dx = x - mx``, ``dy = y - my``: per block of
    ``block`` rows the three products, each block's ``np.sum`` (``numpy_sums``) added in
    block order. A whole block of a power of two rows (>= ``PART``) is summed leaf by
    leaf, a part at a time (``numpy_sums.leaf_sums3``)."""
    n = x.shape[0]
    size = min(block, max(n, 1))
    xx, yy, xy = np.empty(size), np.empty(size), np.empty(size)
    parts = block >= PART and (block & (block - 1)) == 0
    leaves = block // PAIRWISE_BLOCK if parts else 1
    lx, ly, lxy = np.empty(leaves), np.empty(leaves), np.empty(leaves)
    sxx = syy = sxy = 0.0
    for lo in range(0, n, block):
        k = min(block, n - lo)
        if parts and k == block:
            for at in range(0, block, PART):
                xs, ys = x[lo + at : lo + at + PART], y[lo + at : lo + at + PART]
                j = at // PAIRWISE_BLOCK
                _part_products(xs, ys, mx, my, xx, yy, xy)
                leaf_sums3(xx, yy, xy, PART, lx[j:], ly[j:], lxy[j:])
            a, b, c = leaf_totals3(lx, ly, lxy, leaves)
            sxx += a
            syy += b
            sxy += c
            continue
        # views indexed from 0: numba drops the negative-index checks and vectorises
        xs, ys = x[lo : lo + k], y[lo : lo + k]
        for i in range(k):
            dx = xs[i] - mx
            dy = ys[i] - my
            xx[i] = dx * dx
            yy[i] = dy * dy
            xy[i] = dx * dy
        a, b, c = pairwise_sums3(xx, yy, xy, k)
        sxx += a
        syy += b
        sxy += c
    return sxx, syy, sxy


@kernel(f"void({RF8}, {RF8}, float64, float64, float64, float64, {_OUT3})", error_model="numpy")
def _curve_products(
    e: F64, v: F64, pe: float, pv: float, mx: float, my: float, xx: F64, yy: F64, xy: F64
) -> None:
    """``_part_products`` of the returns of ``e`` and ``v`` (``pe``, ``pv``: the values
    before their first)."""
    n = e.shape[0]
    if n == 0:
        return
    dx = (e[0] / pe - 1.0) - mx
    dy = (v[0] / pv - 1.0) - my
    xx[0], yy[0], xy[0] = dx * dx, dy * dy, dx * dy
    # views indexed from 0 (shifted by one bar): numba then vectorises
    now_e, then_e, now_v, then_v = e[1:], e[: n - 1], v[1:], v[: n - 1]
    oxx, oyy, oxy = xx[1:n], yy[1:n], xy[1:n]
    for i in range(n - 1):
        dx = (now_e[i] / then_e[i] - 1.0) - mx
        dy = (now_v[i] / then_v[i] - 1.0) - my
        oxx[i] = dx * dx
        oyy[i] = dy * dy
        oxy[i] = dx * dy


@kernel(
    f"UniTuple(float64, 3)({RF8}, float64, {RF8}, float64, float64, float64, int64)",
    error_model="numpy",
)
def curve_centred_sums(
    e: F64, e0: float, v: F64, v0: float, mx: float, my: float, block: int
) -> tuple[float, float, float]:
    """``centred_sums(x, y, mx, my, block)`` with ``x``, ``y`` the returns of the curves
    ``e`` and ``v`` (``curve_returns(e, e0, x)``, ``curve_returns(v, v0, y)``)."""
    n = e.shape[0]
    size = min(block, max(n, 1))
    xx, yy, xy = np.empty(size), np.empty(size), np.empty(size)
    parts = block >= PART and (block & (block - 1)) == 0
    leaves = block // PAIRWISE_BLOCK if parts else 1
    lx, ly, lxy = np.empty(leaves), np.empty(leaves), np.empty(leaves)
    sxx = syy = sxy = 0.0
    for lo in range(0, n, block):
        k = min(block, n - lo)
        whole = parts and k == block
        step = PART if whole else k
        for at in range(0, k, step):
            s = lo + at
            pe, pv = (e0, v0) if s == 0 else (e[s - 1], v[s - 1])
            to = s + step
            _curve_products(e[s:to], v[s:to], pe, pv, mx, my, xx, yy, xy)
            if whole:
                j = at // PAIRWISE_BLOCK
                leaf_sums3(xx, yy, xy, PART, lx[j:], ly[j:], lxy[j:])
        if whole:
            a, b, c = leaf_totals3(lx, ly, lxy, leaves)
        else:
            a, b, c = pairwise_sums3(xx, yy, xy, k)
        sxx += a
        syy += b
        sxy += c
    return sxx, syy, sxy


@kernel(f"void({RF8}, float64, float64[::1])", error_model="numpy")
def curve_returns(e: F64, initial: float, out: F64) -> None:
    """``returns_from_equity``: ``out = e / previous - 1``, ``initial`` before the first."""
    before = initial
    for i in range(e.shape[0]):
        x = e[i]
        out[i] = x / before - 1.0
        before = x
