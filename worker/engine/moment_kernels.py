"""Compiled kernels that compute, in one pass, the per-bar values a block's sums are taken
of; numpy then sums them (its pairwise sum is vectorised, a compiled one is not), so every
sum is the one numpy gave before (tests/engine/test_moment_kernels.py).
"""

from __future__ import annotations

from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8
from worker.engine.market import F64

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


@kernel(f"void({RF8}, {RF8}, float64, float64, int64, {_OUT3})")
def centred_values(
    x: F64, y: F64, mx: float, my: float, lo: int, xx: F64, yy: F64, xy: F64
) -> None:
    """For rows ``lo ..`` (as many as ``xx`` holds): ``dx = x - mx``, ``dy = y - my``, and
    ``xx = dx²``, ``yy = dy²``, ``xy = dx·dy``."""
    for i in range(xx.shape[0]):
        dx = x[lo + i] - mx
        dy = y[lo + i] - my
        xx[i] = dx * dx
        yy[i] = dy * dy
        xy[i] = dx * dy


@kernel(f"void({RF8}, float64, float64[::1])", error_model="numpy")
def curve_returns(e: F64, initial: float, out: F64) -> None:
    """``returns_from_equity``: ``out = e / previous - 1``, ``initial`` before the first."""
    before = initial
    for i in range(e.shape[0]):
        x = e[i]
        out[i] = x / before - 1.0
        before = x
