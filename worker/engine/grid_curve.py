"""The compiled pass over a grid combination's equity curve (grid_fast.py's common case):
the curve of ``portfolio.equity_blocks`` built block by block from the sized legs
(grid_kernel.py), and what ``equity_stats.equity_stats`` and ``PeriodSumsRecorder`` take
from each block, added in numpy's order (numpy_sums.py) so every sum is theirs.
Kernels only.
"""

from __future__ import annotations

import math

import numpy as np

from worker.engine.grid_kernel import (
    BARS,
    BLOCK,
    DEV,
    DOWN,
    FINAL,
    HAS_DEV,
    MIN_EQUITY,
    MIN_RATIO,
    NOT_FINITE,
    NOT_POSITIVE,
    OK,
    RO,
    S3,
    S4,
    SQUARES,
    TOTAL,
    UNDERWATER,
    VF,
    VI,
    VS,
)
from worker.engine.jit import kernel
from worker.engine.market import F64, I8, I64
from worker.engine.numpy_sums import dot_pair, pairwise_sums3, reduceat_sum, span_sum


@kernel(
    f"int64({RO}, {VI}, {VI}, {VS}, {VF}, {VF}, {VF}, float64, int64, int64, int64, {VF})",
    error_model="numpy",
)
def _equity_block(
    close: F64,
    entry: I64,
    exit_: I64,
    side: I8,
    units: F64,
    cash_in: F64,
    cash_out: F64,
    capital: float,
    ev: int,
    lo: int,
    m: int,
    e: F64,
) -> int:
    """Bars lo .. lo + m - 1 of ``equity_blocks``'s curve into ``e[:m]``, from fill event
    ``ev`` on (event 2k is leg k's entry, 2k + 1 its exit); returns the event to go on
    from. A bar's state is the one after its last event."""
    hi = lo + m
    n_ev = 2 * entry.shape[0]
    t = lo
    while t < hi:
        while ev < n_ev and (entry[ev // 2] if ev % 2 == 0 else exit_[ev // 2]) <= t:
            ev += 1
        if ev == 0:
            cash, pos = capital, 0.0
        else:
            k = (ev - 1) // 2
            if (ev - 1) % 2 == 0:
                cash, pos = cash_in[k], float(side[k]) * units[k]
            else:
                cash, pos = cash_out[k], 0.0
        stop = hi
        if ev < n_ev:
            stop = min(hi, entry[ev // 2] if ev % 2 == 0 else exit_[ev // 2])
        part = e[t - lo : stop - lo]
        marks = close[t:stop]
        for j in range(stop - t):
            part[j] = pos * marks[j] + cash
        t = stop
    return ev


#: A float64's exponent bits: all set for inf and NaN.
EXPONENT = np.int64(0x7FF0000000000000)


@kernel(f"UniTuple(float64, 3)({VF}, int64)", error_model="numpy")
def bit_extremes(e: F64, m: int) -> tuple[float, float, float]:
    """Largest and smallest of e[:m], and 1.0 when some value is not finite. Compared as
    their bits (integers order positive doubles as the doubles; a negative or zero value
    still gives a smallest <= 0, all the caller needs of it), which vectorises."""
    bits = e[:m].view(np.int64)
    top = np.iinfo(np.int64).min
    bottom = np.iinfo(np.int64).max
    special = np.int64(0)
    for j in range(m):
        x = bits[j]
        top = x if x > top else top
        bottom = x if x < bottom else bottom
        y = x & EXPONENT
        special = y if y > special else special
    both = np.empty(2, dtype=np.int64)
    both[0], both[1] = top, bottom
    values = both.view(np.float64)
    return values[0], values[1], 1.0 if special == EXPONENT else 0.0


@kernel(
    f"int64({RO}, {VI}, {VI}, {VS}, {VF}, {VF}, {VF}, float64, {VI}, float64, {VF}, {VF}, {VF})",
    error_model="numpy",
)
def curve_pass(
    close: F64,
    entry: I64,
    exit_: I64,
    side: I8,
    units: F64,
    cash_in: F64,
    cash_out: F64,
    capital: float,
    edges: I64,
    threshold: float,
    out: F64,
    s1: F64,
    s2: F64,
) -> int:
    """``equity_stats`` of the curve (``out[BARS .. HAS_DEV]``) with a
    ``PeriodSumsRecorder`` on partitions ``edges`` (``s1``, ``s2``, ``out[S3]``,
    ``out[S4]``); the status: OK, or NOT_FINITE / NOT_POSITIVE (the slow path decides)."""
    bars = close.shape[0]
    size = min(BLOCK, max(bars, 1))
    e = np.empty(size)
    r = np.empty(size)
    sq = np.empty(size)
    dn = np.empty(size)
    total = squares = down = s3 = s4 = 0.0
    lowest = np.inf
    peak = prev = capital
    min_ratio = np.inf
    best = run = 0
    ev = 0
    n_edges = edges.shape[0]
    for lo in range(0, bars, BLOCK):
        m = min(BLOCK, bars - lo)
        hi = lo + m
        ev = _equity_block(
            close, entry, exit_, side, units, cash_in, cash_out, capital, ev, lo, m, e
        )
        top, bottom, nan = bit_extremes(e, m)
        if nan != 0.0:
            return NOT_FINITE
        lowest = min(lowest, bottom)
        # per bar: the return, its square and its shortfall's square (a NaN return, from a
        # curve at 0, is left to the slow path: NOT_POSITIVE)
        x = e[0] / prev - 1.0
        d = min(x - threshold, 0.0)
        r[0], sq[0], dn[0] = x, x * x, d * d
        later, earlier, rs, sqs, dns = e[1:m], e[: m - 1], r[1:m], sq[1:m], dn[1:m]
        for j in range(m - 1):
            x = later[j] / earlier[j] - 1.0
            d = x - threshold
            d = d if d < 0.0 else 0.0
            rs[j], sqs[j], dns[j] = x, x * x, d * d
        block_total, block_squares, block_down = pairwise_sums3(r, sq, dn, m)
        total += block_total
        squares += block_squares
        down += block_down
        # PeriodSumsRecorder.__call__
        first = 0
        while first < n_edges and edges[first] <= lo:
            first += 1
        first -= 1
        following = 0
        for i in range(first + 1, min(first + 3, n_edges)):
            if edges[i] < hi:
                following += 1
        if following == 0:
            s1[first] += block_total
            s2[first] += block_squares
        elif following == 1:
            k = edges[first + 1] - lo
            if 2 * k <= m:
                a, b = span_sum(r, 0, k), span_sum(sq, 0, k)
            else:
                a = block_total - span_sum(r, k, m)
                b = block_squares - span_sum(sq, k, m)
            s1[first] += a
            s2[first] += b
            s1[first + 1] += block_total - a
            s2[first + 1] += block_squares - b
        else:
            i = first
            start = 0
            while True:
                nxt = edges[i + 1] - lo if i + 1 < n_edges and edges[i + 1] < hi else m
                s1[i] += reduceat_sum(r, start, nxt)
                s2[i] += reduceat_sum(sq, start, nxt)
                if nxt == m:
                    break
                start = nxt
                i += 1
        block_s3, block_s4 = dot_pair(sq, r, m)
        s3 += block_s3
        s4 += block_s4
        prev = e[m - 1]
        if top > peak:  # equity_stats: the running peak only where it rises
            stretch = np.inf  # lowest equity since the peak last rose
            for j in range(m):
                x = e[j]
                if x > peak:
                    min_ratio = min(min_ratio, stretch / peak)
                    peak = stretch = x
                    run = 0
                else:
                    stretch = min(stretch, x)
                    if x < peak:
                        run += 1
                        best = max(best, run)
                    else:
                        run = 0
            min_ratio = min(min_ratio, stretch / peak)
        else:
            min_ratio = min(min_ratio, bottom / peak)
            if top < peak:
                run += m
                best = max(best, run)
            else:
                for j in range(m):
                    if e[j] < peak:
                        run += 1
                        best = max(best, run)
                    else:
                        run = 0
    out[BARS] = bars
    out[FINAL] = prev if bars else capital
    out[TOTAL] = total
    out[SQUARES] = squares
    out[DOWN] = down
    out[MIN_RATIO] = min_ratio
    out[MIN_EQUITY] = lowest
    out[UNDERWATER] = best
    out[S3] = s3
    out[S4] = s4
    out[HAS_DEV] = 0.0
    if not lowest > 0:
        return NOT_POSITIVE
    if bars >= 2 and math.isfinite(total):
        mean = total / bars
        if not bars * mean * mean < 1e-3 * squares:
            dev = 0.0
            prev = capital
            ev = 0
            for lo in range(0, bars, BLOCK):
                m = min(BLOCK, bars - lo)
                ev = _equity_block(
                    close, entry, exit_, side, units, cash_in, cash_out, capital, ev, lo, m, e
                )
                for j in range(m):
                    x = (e[j] / prev - 1.0) - mean
                    sq[j] = x * x
                    prev = e[j]
                dev += span_sum(sq, 0, m)
            out[DEV] = dev
            out[HAS_DEV] = 1.0
    return OK
