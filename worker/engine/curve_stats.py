"""One symbol's equity curve and its ``equity_stats`` in one compiled pass (simulate's
common case: one symbol, no carry): each block of the curve is summarised while it is still
in the cache, instead of being written whole and read back. The per-bar returns live only
in a block-sized buffer (the analysis recomputes them from the curve,
``moment_kernels.curve_centred_sums``).

The curve is ``curve_kernels.single_equity``'s, the statistics ``equity_stats``' of it:
the same blocks of ``STATS_BLOCK`` bars, per bar the same return, square and shortfall as
``moment_kernels.return_values``, each block summed in numpy's order
(``numpy_sums.pairwise_sums3``), extremes (``grid_curve.bit_extremes`` on a positive
block, else ``peak_kernels.extremes``) and running peak by ``peak_kernels``. So every
number is the one the two passes gave (tests/engine/test_curve_stats.py). A curve that is
not finite everywhere, or whose variance needs the second pass, is finished by
``equity_stats`` itself. The equity frame's exposure and drawdown columns are written in the
same pass (``curve_kernels.exposure_drawdown``'s numbers), while the block is in cache, and
so is the returns' ``np.sum`` (``numpy_sums.tree_spans``: numpy's order over the whole curve).
"""

from __future__ import annotations

import math

import numpy as np

from worker.engine.curve_kernels import PEAK_BLOCK
from worker.engine.equity_stats import (
    STATS_BLOCK,
    EquityStats,
    array_block,
    equity_stats,
    one_pass_ok,
)
from worker.engine.grid_curve import bit_extremes
from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8, RI8
from worker.engine.market import F64, I64, MarketData
from worker.engine.moment_kernels import return_values
from worker.engine.numpy_sums import (
    PAIRWISE_BLOCK,
    _pairwise,
    leaf_sums3,
    leaf_totals3,
    pairwise_sums3,
    tree_spans,
    tree_total,
)
from worker.engine.peak_kernels import extremes, peak_block
from worker.engine.portfolio import Curve, Derived, Fills

#: Slots of ``single_curve_stats``' ``out``.
TOTAL, SQUARES, DOWN, MIN_RATIO, MIN_EQUITY, UNDERWATER, FINAL, RETURN_SUM = range(8)
#: Values per span of the returns' ``np.sum`` summed while the span is in cache.
SUM_SPAN = 4096
#: Bars per part of a block: a part's curve, derived columns and returns are written one
#: after the other while its bars are in the L2 cache (a whole block's are not).
PART = 4096
_OUT = "float64[::1]"
_STATE = "Tuple((int64, float64, float64))"


@kernel(
    f"{_STATE}({RI8}, {RF8}, {RF8}, {RF8}, int64, int64, int64, float64, float64, "
    f"{_OUT}, {_OUT}, {_OUT})"
)
def _curve_part(
    ev_t: I64,
    ev_cash: F64,
    ev_pos: F64,
    close: F64,
    lo: int,
    hi: int,
    j: int,
    c: float,
    p: float,
    equity: F64,
    cash: F64,
    value: F64,
) -> tuple[int, float, float]:
    """``single_equity`` on bars lo .. hi - 1, from event ``j`` and the cash ``c`` and
    position ``p`` it left; returns them for the next part."""
    m_ev = ev_t.shape[0]
    t = lo
    while t < hi:
        while j < m_ev and ev_t[j] <= t:
            c, p = ev_cash[j], ev_pos[j]
            j += 1
        stop = hi if j >= m_ev else min(hi, ev_t[j])
        # views indexed from 0: numba drops the negative-index checks and vectorises
        es, cs, vs, marks = equity[t:stop], cash[t:stop], value[t:stop], close[t:stop]
        for i in range(stop - t):
            v = p * marks[i]
            cs[i] = c
            vs[i] = v
            es[i] = c + v
        t = stop
    return j, c, p


@kernel(f"float64({RF8}, {RF8}, float64, {_OUT}, {_OUT})", error_model="numpy")
def _exposure_drawdown_part(e: F64, held: F64, peak: float, exposure: F64, drawdown: F64) -> float:
    """``curve_kernels.exposure_drawdown`` (absolute) on a part of a finite curve, from the
    running ``peak`` before it; returns the peak after it. A part without a new high divides
    by the peak it was given, without the scan."""
    n = e.shape[0]
    low = True
    for i in range(n):
        low &= e[i] <= peak
    if low:
        for i in range(n):
            x = e[i]
            drawdown[i] = x / peak - 1.0
            exposure[i] = abs(held[i]) / x
        return peak
    for lo in range(0, n, PEAK_BLOCK):
        m = min(PEAK_BLOCK, n - lo)
        block, dd = e[lo : lo + m], drawdown[lo : lo + m]
        value, ratio = held[lo : lo + m], exposure[lo : lo + m]
        for i in range(m):
            x = block[i]
            if x > peak:
                peak = x
            dd[i] = peak
        for i in range(m):
            x = block[i]
            dd[i] = x / dd[i] - 1.0
            ratio[i] = abs(value[i]) / x
    return peak


@kernel(
    f"boolean({RI8}, {RF8}, {RF8}, float64, {RF8}, float64, int64, "
    f"{_OUT}, {_OUT}, {_OUT}, {_OUT}, {_OUT}, {_OUT})",
    error_model="numpy",
)
def single_curve_stats(
    ev_t: I64,
    ev_cash: F64,
    ev_pos: F64,
    capital: float,
    close: F64,
    threshold: float,
    block: int,
    equity: F64,
    cash: F64,
    value: F64,
    exposure: F64,
    drawdown: F64,
    out: F64,
) -> bool:
    """``single_equity`` into ``equity``, ``cash`` and ``value``, and per block of
    ``block`` bars the returns, the equity frame's ``exposure`` and ``drawdown``
    (``curve_kernels.exposure_drawdown``) and ``equity_stats``' sums, extremes and peak,
    and the returns' ``np.sum`` (into ``out``); False (the curve written whole, the rest
    not) when some equity is not finite. The returns are kept only while they are summed:
    a block's, after the part of the sum's span still open when the block began."""
    n = close.shape[0]
    size = min(block, max(n, 1))
    sq = np.empty(size)
    dn = np.empty(size)
    # a whole block of a power of two bars is summed leaf by leaf, part by part
    leafy = block >= PART and (block & (block - 1)) == 0
    leaves = block // PAIRWISE_BLOCK if leafy else 1
    lr, lq, lb = np.empty(leaves), np.empty(leaves), np.empty(leaves)
    j = 0
    c, p = capital, 0.0
    total = squares = down = 0.0
    lowest = np.inf
    peak = prev = dd_peak = capital
    min_ratio = np.inf
    best = run = 0
    finite = True
    slots = n // (SUM_SPAN // 2 - 8) + 2
    span_lo, span_n = np.empty(slots, np.int64), np.empty(slots, np.int64)
    span_sums = np.empty(slots)
    spans = tree_spans(0, n, SUM_SPAN, span_lo, span_n, 0) if n else 0
    k = 0
    returns = np.empty(min(n, block + SUM_SPAN))
    base = 0  # the bar of returns[0]
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        if not finite:
            j, c, p = _curve_part(
                ev_t, ev_cash, ev_pos, close, lo, hi, j, c, p, equity, cash, value
            )
            continue
        if k < spans:  # the open span's returns to the front, the block's after them
            first = span_lo[k] - base
            for i in range(lo - span_lo[k]):  # forwards: the two may overlap
                returns[i] = returns[first + i]
            base = span_lo[k]
        # part by part, each still in cache: the curve, its derived columns, its returns
        before = prev
        whole = leafy and hi - lo == block
        for at in range(lo, hi, PART):
            to = min(at + PART, hi)
            j, c, p = _curve_part(
                ev_t, ev_cash, ev_pos, close, at, to, j, c, p, equity, cash, value
            )
            e = equity[at:to]
            held, ratio, dd = value[at:to], exposure[at:to], drawdown[at:to]
            dd_peak = _exposure_drawdown_part(e, held, dd_peak, ratio, dd)
            r, q, b = returns[at - base : to - base], sq[at - lo : to - lo], dn[at - lo : to - lo]
            return_values(e, before, threshold, r, q, b)
            before = e[to - at - 1]
            if whole:
                first = (at - lo) // PAIRWISE_BLOCK
                leaf_sums3(r, q, b, to - at, lr[first:], lq[first:], lb[first:])
        e = equity[lo:hi]
        top, bottom, special = bit_extremes(e, hi - lo)
        if special != 0.0 or not bottom > 0.0:  # their bits order only positive doubles
            top, bottom = extremes(e)
        if not (math.isfinite(top) and math.isfinite(bottom)):
            finite = False
            continue
        lowest = min(lowest, bottom)
        r = returns[lo - base : hi - base]
        while k < spans and span_lo[k] + span_n[k] <= hi:
            span_sums[k] = _pairwise(returns, span_lo[k] - base, span_n[k])
            k += 1
        if whole:
            block_total, block_squares, block_down = leaf_totals3(lr, lq, lb, leaves)
        else:
            block_total, block_squares, block_down = pairwise_sums3(r, sq, dn, hi - lo)
        total += block_total
        squares += block_squares
        down += block_down
        prev = e[hi - lo - 1]
        peak, min_ratio, run, best = peak_block(e, top, bottom, peak, min_ratio, run, best)
    out[TOTAL] = total
    out[SQUARES] = squares
    out[DOWN] = down
    out[MIN_RATIO] = min_ratio
    out[MIN_EQUITY] = lowest
    out[UNDERWATER] = max(best, run)
    out[FINAL] = prev if n else capital
    out[RETURN_SUM] = 0.0 + tree_total(n, SUM_SPAN, span_sums, 0)[0] if n else 0.0
    return finite


def curve_and_stats(
    md: MarketData, fills: Fills, capital: float, threshold: float
) -> tuple[Curve, EquityStats, F64 | None]:
    """``portfolio.equity_curve`` of one symbol without carry, its ``equity_stats`` and
    its per-bar returns (``return_metrics.returns_from_equity``) when they were built
    whole; a finite curve carries the equity frame's exposure and drawdown columns and the
    returns' mean, computed in the same pass, and its returns are not kept (None)."""
    legs = fills.legs
    ev_pos = np.zeros(2 * legs.count)
    ev_pos[0::2] = legs.side * fills.units
    n = md.n_times
    equity, cash, value, exposure, drawdown = (np.empty(n) for _ in range(5))
    out = np.empty(8)
    whole = single_curve_stats(
        fills.ev_t, fills.ev_cash, ev_pos, capital, md.close, threshold, STATS_BLOCK,
        equity, cash, value, exposure, drawdown, out,
    )  # fmt: skip
    if not whole:
        curve = Curve(equity, cash, value, None)
        returns = np.empty(n)
        stats = equity_stats(array_block(equity), n, capital, threshold=threshold, returns=returns)
        return curve, stats, returns
    mean = float(out[RETURN_SUM]) / n if n else math.nan
    derived = Derived(exposure, drawdown, bool(out[MIN_EQUITY] > 0), mean)
    curve = Curve(equity, cash, value, None, derived=derived)
    stats = EquityStats(
        n,
        float(out[FINAL]),
        float(out[TOTAL]),
        float(out[SQUARES]),
        float(out[DOWN]),
        float(out[MIN_RATIO]),
        float(out[MIN_EQUITY]),
        int(out[UNDERWATER]),
        None,
        threshold,
    )
    if n >= 2 and math.isfinite(stats.total) and not one_pass_ok(n, stats.total, stats.squares):
        stats = equity_stats(array_block(equity), n, capital, threshold=threshold)
    return curve, stats, None
