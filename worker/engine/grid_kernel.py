"""Compiled passes of a grid combination's common case (grid_fast.py says which): one
symbol, market entries, no stops, carry, volume cap or maintenance margin.

``crossover_legs`` is the SMA crossover's signal, desired position and trade legs in one
pass over the bars (the moving averages cut from the running sum as ``indicators.sma_of``
does); ``curve_pass`` sizes the legs, builds the equity curve block by block and gathers
what ``equity_stats``, ``PeriodSumsRecorder`` and the trade metrics take from it, adding
in numpy's order (numpy_sums.py), so every number is that of ``simulate_metrics_and_sums``.
Kernels only: the wrappers are in grid_fast.py.
"""

from __future__ import annotations

import math

import numpy as np

from worker.engine.jit import kernel
from worker.engine.numpy_sums import dot_pair, pairwise_sum, pairwise_sums3, reduceat_sum, span_sum

#: Bars per block: ``equity_stats.STATS_BLOCK`` (tests check they agree).
BLOCK = 1 << 16
#: ``curve_pass``'s result slots (``out``) and its status codes.
(
    BARS,
    FINAL,
    TOTAL,
    SQUARES,
    DOWN,
    MIN_RATIO,
    MIN_EQUITY,
    UNDERWATER,
    DEV,
    HAS_DEV,
    TRADES,
    WINS,
    GROSS_WIN,
    GROSS_LOSS,
    PNL_SUM,
    RETURN_SUM,
    BEST,
    WORST,
    FEES,
    COVERED,
    S3,
    S4,
) = range(22)
SLOTS = 22
OK, NOT_FINITE, NOT_POSITIVE = range(3)
#: A read-only float64 vector (MarketData's price columns are read-only).
RO = "Array(float64, 1, 'C', readonly=True)"
F64, I64, I8, B1 = "float64[::1]", "int64[::1]", "int8[::1]", "boolean[::1]"


#: Two averages whose approximations differ by more than this fraction of the price level
#: compare as their exact values do (the approximations are within a few 1e-16 of it).
NEAR = 1e-9


@kernel(f"float64({RO}, float64, int64, int64)", error_model="numpy")
def _sma_at(csum, x0, period, t):  # type: ignore[no-untyped-def]
    """``indicators._sma_known`` at row t (one symbol): NaN during the warm-up."""
    if t < period - 1:
        return np.nan
    if t == period - 1:
        return csum[t] / float(period) + x0
    return (csum[t] - csum[t - period]) / float(period) + x0


@kernel(f"void({RO}, float64, int64, int64, int64, int64, {I8}, {B1})", error_model="numpy")
def _compare(csum, x0, fast, slow, lo, m, cmp, near):  # type: ignore[no-untyped-def]
    """``cmp[1 + j]`` = sign(fast SMA - slow SMA) at row lo + j (0 for ties and NaN), as
    ``cross_hold`` compares the exact averages: each window's mean is approximated by a
    multiplication, and only rows whose two approximations are too close to tell apart
    (``NEAR``) are divided exactly."""
    inv_f = 1.0 / fast
    inv_s = 1.0 / slow
    start = min(max(slow, lo), lo + m)
    for t in range(lo, start):
        a = _sma_at(csum, x0, fast, t)
        b = _sma_at(csum, x0, slow, t)
        cmp[1 + t - lo] = (1 if a > b else 0) - (1 if a < b else 0)
        near[1 + t - lo] = False
    tol = NEAR * abs(x0)
    count = lo + m - start
    # views indexed from 0: numba then drops the negative-index checks and vectorises
    now = csum[start : start + count]
    back_f = csum[start - fast : start - fast + count]
    back_s = csum[start - slow : start - slow + count]
    out = cmp[1 + start - lo : 1 + start - lo + count]
    close = near[1 + start - lo : 1 + start - lo + count]
    for j in range(count):
        a = (now[j] - back_f[j]) * inv_f
        b = (now[j] - back_s[j]) * inv_s
        gap = a - b
        out[j] = (gap > 0) - (gap < 0)
        close[j] = abs(gap) <= tol + NEAR * (abs(a) + abs(b))
    for j in range(count):
        if close[j]:
            a = (now[j] - back_f[j]) / float(fast) + x0
            b = (now[j] - back_s[j]) / float(slow) + x0
            out[j] = (a > b) - (a < b)


@kernel(f"int64(int64, int64, {I8}, {I64}, {I8}, int64)", error_model="numpy")
def _crosses(lo, m, cmp, rows, values, k):  # type: ignore[no-untyped-def]
    """``cross_hold``'s strict crosses among rows lo .. lo + m - 1 (``cmp[1:]``, ``cmp[0]``
    the previous row's) appended to ``rows``/``values`` from ``k`` on; ``cmp[0]`` then
    holds this block's last. Returns the new count."""
    for j in range(m):
        step = cmp[j + 1] - cmp[j]
        if (step == 2 or step == -2) and lo + j > 0:
            rows[k] = lo + j
            values[k] = cmp[j + 1]
            k += 1
    cmp[0] = cmp[m]
    return k


@kernel(
    f"Tuple(({I64}, {I64}, {I8}, {B1}))({RO}, float64, int64, int64, boolean, boolean)",
    error_model="numpy",
)
def crossover_legs(csum, x0, fast, slow, long_only, next_open):  # type: ignore[no-untyped-def]
    """Legs (entry row, exit row, side, exit at end of data) of ``cross_hold`` on the fast
    and slow SMAs, through ``desired_positions`` and ``build_legs`` (one symbol)."""
    n = csum.shape[0]
    size = min(BLOCK, max(n, 1))
    cmp = np.zeros(size + 1, dtype=np.int8)
    near = np.zeros(size + 1, dtype=np.bool_)
    rows = np.empty(n, dtype=np.int64)
    values = np.empty(n, dtype=np.int8)
    k = 0
    for lo in range(0, n, BLOCK):
        m = min(BLOCK, n - lo)
        _compare(csum, x0, fast, slow, lo, m, cmp, near)
        k = _crosses(lo, m, cmp, rows, values, k)
    entry = np.empty(k + 1, dtype=np.int64)
    exit_ = np.empty(k + 1, dtype=np.int64)
    side = np.empty(k + 1, dtype=np.int8)
    legs = 0
    held = 0  # desired position (``desired_positions``) before the change
    s = 0  # target position after the last cross
    for i in range(k):
        target = values[i]
        if long_only and target < 0:
            target = 0
        if target == s:
            continue
        s = target
        row = rows[i] + 1 if next_open else rows[i]
        if row > n - 1 or (not next_open and row == n - 1 and target != 0):
            continue  # desired_positions: no change on the last row (to flat excepted)
        if held != 0:
            exit_[legs - 1] = row
        if target != 0:
            entry[legs] = row
            side[legs] = target
            legs += 1
        held = target
    eod = np.zeros(legs, dtype=np.bool_)
    if held != 0:
        exit_[legs - 1] = n - 1
        eod[legs - 1] = True
    return entry[:legs].copy(), exit_[:legs].copy(), side[:legs].copy(), eod


@kernel(
    f"UniTuple({F64}, 6)({RO}, {RO}, {I64}, {I64}, {I8}, {B1}, boolean, {F64})",
    error_model="numpy",
)
def sized_legs(open_, close, entry, exit_, side, eod, next_open, costs):  # type: ignore[no-untyped-def]
    """Per leg: entry and exit prices after slippage (``build_legs``), units, fees, and
    cash after its entry and after its exit (``size_single``). ``costs``: commission,
    commission_fixed, margin_initial, size, capital, integer units (1.0 or 0.0), slippage."""
    c, fixed, margin, size, capital = costs[0], costs[1], costs[2], costs[3], costs[4]
    integer, slip = costs[5] != 0.0, costs[6]
    m = entry.shape[0]
    pe = np.empty(m)
    px = np.empty(m)
    for k in range(m):
        sd = float(side[k])
        raw_in = open_[entry[k]] if next_open else close[entry[k]]
        raw_out = close[exit_[k]] if eod[k] or not next_open else open_[exit_[k]]
        pe[k] = raw_in * (1.0 + sd * slip)
        px[k] = raw_out * (1.0 - sd * slip)
    units = np.zeros(m)
    fees = np.zeros(m)
    cash_in = np.empty(m)
    cash_out = np.empty(m)
    capped = not (margin == 1.0 and size <= 1.0)
    if not integer and fixed == 0.0 and m:
        s = min(size, (1.0 + c) / (margin + c)) if capped else size
        ok = True
        prod = 1.0
        for k in range(m):
            before = capital * (1.0 if k == 0 else prod)
            if not (before > 0 and math.isfinite(before)):
                ok = False
                break
            denom = pe[k] * (1.0 + c)
            cin = -pe[k] * (1.0 + c) if side[k] > 0 else pe[k] * (1.0 - c)
            cout = px[k] * (1.0 - c) if side[k] > 0 else -px[k] * (1.0 + c)
            f_in = 1.0 + s * cin / denom
            growth = f_in + s * cout / denom
            prod = growth if k == 0 else prod * growth
            units[k] = s * before / denom
            fees[k] = units[k] * (pe[k] + px[k]) * c
            cash_in[k] = before * f_in
            cash_out[k] = before * growth
        if ok:
            return pe, px, units, fees, cash_in, cash_out
        units[:] = 0.0
        fees[:] = 0.0
    cash = capital
    stopped = False
    for k in range(m):
        cash_in[k] = cash
        cash_out[k] = cash
        units[k] = 0.0
        if stopped:
            continue
        denom = pe[k] * (1.0 + c)
        cin = -pe[k] * (1.0 + c) if side[k] > 0 else pe[k] * (1.0 - c)
        cout = px[k] * (1.0 - c) if side[k] > 0 else -px[k] * (1.0 + c)
        u = (size * cash - fixed) / denom
        if capped:
            cap = (cash - fixed) / (pe[k] * (margin + c))
            if cap < u:
                u = cap
        if integer:
            if not math.isfinite(u):
                stopped = True  # size_single stops trading: the rest get no units
                continue
            u = math.floor(u)
        if u > 0:
            after_entry = cash + u * cin - fixed
            cash = after_entry + u * cout - fixed
            cash_in[k] = after_entry
            cash_out[k] = cash
            if math.isfinite(u):
                units[k] = u
                fees[k] = u * (pe[k] + px[k]) * c + 2.0 * fixed
    return pe, px, units, fees, cash_in, cash_out


@kernel(
    f"int64({RO}, {I64}, {I64}, {I8}, {F64}, {F64}, {F64}, float64, int64, int64, int64, {F64})",
    error_model="numpy",
)
def _equity_block(close, entry, exit_, side, units, cash_in, cash_out, capital, ev, lo, m, e):  # type: ignore[no-untyped-def]
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


@kernel(f"UniTuple(float64, 3)({F64}, int64)", error_model="numpy")
def _extremes(e, m):  # type: ignore[no-untyped-def]
    """Largest and smallest of e[:m] (NaN-blind), and 1.0 when some value is not finite."""
    tops = np.full(8, -np.inf)
    bottoms = np.full(8, np.inf)
    bad = 0
    j = 0
    while j + 8 <= m:
        for q in range(8):
            x = e[j + q]
            tops[q] = x if x > tops[q] else tops[q]
            bottoms[q] = x if x < bottoms[q] else bottoms[q]
            bad |= x - x != 0.0
        j += 8
    while j < m:
        x = e[j]
        tops[0] = x if x > tops[0] else tops[0]
        bottoms[0] = x if x < bottoms[0] else bottoms[0]
        bad |= x - x != 0.0
        j += 1
    top, bottom = tops[0], bottoms[0]
    for q in range(1, 8):
        top = tops[q] if tops[q] > top else top
        bottom = bottoms[q] if bottoms[q] < bottom else bottom
    return top, bottom, float(bad)


@kernel(
    f"int64({RO}, {I64}, {I64}, {I8}, {F64}, {F64}, {F64},"
    f" float64, {I64}, float64, {F64}, {F64}, {F64})",
    error_model="numpy",
)
def curve_pass(
    close, entry, exit_, side, units, cash_in, cash_out, capital, edges, threshold, out, s1, s2
):  # type: ignore[no-untyped-def]
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
        top, bottom, nan = _extremes(e, m)
        if nan != 0.0:
            return NOT_FINITE
        lowest = min(lowest, bottom)
        r[0] = e[0] / prev - 1.0
        later, earlier, rest = e[1:m], e[: m - 1], r[1:m]
        for j in range(m - 1):
            rest[j] = later[j] / earlier[j] - 1.0
        for j in range(m):
            sq[j] = r[j] * r[j]
            d = min(r[j] - threshold, 0.0)
            dn[j] = d * d
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


@kernel(
    f"void({I8}, {F64}, {F64}, {F64}, {F64}, {I64}, {I64}, {F64})",
    error_model="numpy",
)
def trade_pass(side, units, pe, px, fees, entry, exit_, out):  # type: ignore[no-untyped-def]
    """What ``trade_metrics.trade_stats``, ``commissions_paid`` and ``exposure`` take from
    the executed legs (``simulate._metrics``), into ``out[TRADES .. COVERED]``."""
    m = units.shape[0]
    pnl = np.empty(m)
    ret = np.empty(m)
    paid = np.empty(m)
    wins = np.empty(m)
    losses = np.empty(m)
    n = n_win = n_loss = 0
    covered = 0
    reach = -1
    for k in range(m):
        u = units[k]
        if not u > 0:
            continue
        p = float(side[k]) * u * (px[k] - pe[k]) - fees[k]
        pnl[n] = p
        ret[n] = p / (u * pe[k])
        paid[n] = fees[k]
        if p > 0:
            wins[n_win] = p
            n_win += 1
        elif p < 0:
            losses[n_loss] = p
            n_loss += 1
        t_in, t_end = entry[k], exit_[k] + 1
        if n == 0:
            covered = t_end - t_in
        else:
            covered += max(t_end - max(t_in, reach), 0)
        reach = max(reach, t_end)
        n += 1
    out[TRADES] = n
    out[WINS] = n_win
    out[GROSS_WIN] = pairwise_sum(wins[:n_win])
    out[GROSS_LOSS] = -pairwise_sum(losses[:n_loss])
    out[PNL_SUM] = pairwise_sum(pnl[:n])
    out[RETURN_SUM] = pairwise_sum(ret[:n])
    out[BEST] = ret[:n].max() if n else np.nan
    out[WORST] = ret[:n].min() if n else np.nan
    out[FEES] = pairwise_sum(paid[:n])
    out[COVERED] = covered
