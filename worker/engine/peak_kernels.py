"""Compiled kernel of ``equity_stats``' running peak and time under water, one block at a
time; bit for bit the numpy it replaces (tests/engine/test_peak_kernels.py)."""

from __future__ import annotations

import numpy as np

from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8
from worker.engine.market import F64

_STATE = "Tuple((float64, float64, int64, int64))"


@kernel(f"{_STATE}({RF8}, float64, float64, float64, float64, int64, int64)", error_model="numpy")
def peak_block(
    e: F64, top: float, bottom: float, peak: float, min_ratio: float, run: int, best: int
) -> tuple[float, float, int, int]:
    """``(peak, min_ratio, run, best)`` after the finite block ``e`` (its max ``top`` and
    min ``bottom``): the running peak, the lowest ``equity / peak``, the bars under water
    at the block's end and the longest such run so far.

    A block that reaches a new high is under water where ``e / running peak < 1``; any
    other block where ``e < peak`` and its lowest ratio is ``bottom / peak`` (as the numpy
    code decides, which differ where a ratio rounds to 1)."""
    m = e.shape[0]
    if top > peak:
        p = peak
        for i in range(m):
            x = e[i]
            if x > p:
                p = x
            q = x / p
            if q < min_ratio:
                min_ratio = q
            if q < 1.0:
                run += 1
            else:
                if run > best:
                    best = run
                run = 0
        return p, min_ratio, run, best
    q = bottom / peak
    if q < min_ratio:
        min_ratio = q
    if top < peak:
        return peak, min_ratio, run + m, best
    for i in range(m):
        if e[i] < peak:
            run += 1
        else:
            if run > best:
                best = run
            run = 0
    return peak, min_ratio, run, best


@kernel(f"UniTuple(float64, 2)({RF8})")
def extremes(e: F64) -> tuple[float, float]:
    """``(e.max(), e.min())`` in one pass (both NaN when ``e`` holds a NaN; ``e`` is not
    empty)."""
    top = bottom = e[0]
    nan = False
    for i in range(e.shape[0]):
        x = e[i]
        nan |= x != x
        top = x if x > top else top
        bottom = x if x < bottom else bottom
    if nan:
        return np.nan, np.nan
    return top, bottom
