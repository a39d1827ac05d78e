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
from worker.engine.numpy_sums import dot_sum, pairwise_sum, reduceat_sum, span_sum

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
RO = "Array(float64, 1, 'A', readonly=True)"


@kernel(f"void({RO}, float64, int64, int64, int64, float64[:])", error_model="numpy")
def _sma_block(csum, x0, period, lo, hi, out):  # type: ignore[no-untyped-def]
    """``indicators._sma_known`` for rows lo .. hi - 1 into out[0 : hi - lo]."""
    p = float(period)
    for t in range(lo, hi):
        if t < period - 1:
            out[t - lo] = np.nan
        elif t == period - 1:
            out[t - lo] = csum[t] / p + x0
        else:
            out[t - lo] = (csum[t] - csum[t - period]) / p + x0


@kernel(
    "Tuple((int64[:], int64[:], int8[:], boolean[:]))"
    f"({RO}, float64, int64, int64, boolean, boolean)",
    error_model="numpy",
)
def crossover_legs(csum, x0, fast, slow, long_only, next_open):  # type: ignore[no-untyped-def]
    """Legs (entry row, exit row, side, exit at end of data) of ``cross_hold`` on the fast
    and slow SMAs, through ``desired_positions`` and ``build_legs`` (one symbol)."""
    n = csum.shape[0]
    cap = 64
    entry = np.empty(cap, dtype=np.int64)
    exit_ = np.empty(cap, dtype=np.int64)
    side = np.empty(cap, dtype=np.int8)
    m = 0
    a = np.empty(min(BLOCK, max(n, 1)))
    b = np.empty(min(BLOCK, max(n, 1)))
    pos = 0
    prev_c = 0
    prev_s = 0
    prev_d = 0
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        _sma_block(csum, x0, fast, lo, hi, a)
        _sma_block(csum, x0, slow, lo, hi, b)
        for t in range(lo, hi):
            fa = a[t - lo]
            sb = b[t - lo]
            c = (1 if fa > sb else 0) - (1 if fa < sb else 0)
            if t > 0 and (c - prev_c == 2 or c - prev_c == -2):
                pos = c
            prev_c = c
            s = pos if pos > 0 or not long_only else 0
            if next_open:
                d = prev_s if t > 0 else 0
            elif t == n - 1:
                d = (prev_s if n > 1 else 0) if s != 0 else 0
            else:
                d = s
            prev_s = s
            if d != prev_d:
                if prev_d != 0:
                    exit_[m - 1] = t
                if d != 0:
                    if m == cap:
                        cap *= 2
                        entry = np.concatenate((entry, np.empty(cap - m, dtype=np.int64)))
                        exit_ = np.concatenate((exit_, np.empty(cap - m, dtype=np.int64)))
                        side = np.concatenate((side, np.empty(cap - m, dtype=np.int8)))
                    entry[m] = t
                    side[m] = d
                    m += 1
                prev_d = d
    eod = np.zeros(m, dtype=np.bool_)
    if prev_d != 0:
        exit_[m - 1] = n - 1
        eod[m - 1] = True
    return entry[:m].copy(), exit_[:m].copy(), side[:m].copy(), eod


@kernel(
    "UniTuple(float64[:], 6)"
    f"({RO}, {RO}, int64[:], int64[:], int8[:], boolean[:], boolean, float64[:])",
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
    f"int64({RO}, int64[:], int64[:], int8[:], float64[:], float64[:], float64[:],"
    " float64, int64, int64, float64[:])",
    error_model="numpy",
)
def _equity_block(close, entry, exit_, side, units, cash_in, cash_out, capital, ev, lo, e):  # type: ignore[no-untyped-def]
    """Bars lo .. lo + len(e) - 1 of ``equity_blocks``'s curve into ``e``, from fill event
    ``ev`` on (event 2k is leg k's entry, 2k + 1 its exit); returns the event to go on
    from. A bar's state is the one after its last event."""
    hi = lo + e.shape[0]
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
        for j in range(t, stop):
            e[j - lo] = pos * close[j] + cash
        t = stop
    return ev


@kernel(
    f"int64({RO}, int64[:], int64[:], int8[:], float64[:], float64[:], float64[:],"
    " float64, int64[:], float64, float64[:], float64[:], float64[:])",
    error_model="numpy",
)
def curve_pass(close, entry, exit_, side, units, cash_in, cash_out, capital, edges, threshold, out, s1, s2):  # type: ignore[no-untyped-def]
    """``equity_stats`` of the curve (``out[BARS .. HAS_DEV]``) with a
    ``PeriodSumsRecorder`` on partitions ``edges`` (``s1``, ``s2``, ``out[S3]``,
    ``out[S4]``); the status: OK, or NOT_FINITE / NOT_POSITIVE (the slow path decides)."""
    bars = close.shape[0]
    size = min(BLOCK, max(bars, 1))
    e = np.empty(size)
    r = np.empty(size)
    sq = np.empty(size)
    total = squares = down = s3 = s4 = 0.0
    lowest = np.inf
    peak = prev = capital
    min_ratio = np.inf
    stretch = np.inf  # lowest equity since the peak was last raised
    best = run = 0
    ev = 0
    n_edges = edges.shape[0]
    for lo in range(0, bars, BLOCK):
        m = min(BLOCK, bars - lo)
        hi = lo + m
        eb = e[:m]
        ev = _equity_block(close, entry, exit_, side, units, cash_in, cash_out, capital, ev, lo, eb)
        for j in range(m):
            if not math.isfinite(eb[j]):
                return NOT_FINITE
        for j in range(m):
            x = eb[j]
            if x < lowest:
                lowest = x
            r[j] = x / prev - 1.0
            sq[j] = r[j] * r[j]
            prev = x
            if x > peak:
                if stretch / peak < min_ratio:
                    min_ratio = stretch / peak
                peak = x
                stretch = x
                run = 0
            else:
                if x < stretch:
                    stretch = x
                if x < peak:
                    run += 1
                    if run > best:
                        best = run
                else:
                    run = 0
        rb = r[:m]
        qb = sq[:m]
        block_total = pairwise_sum(rb)
        block_squares = pairwise_sum(qb)
        total += block_total
        squares += block_squares
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
                a, b = span_sum(rb, 0, k), span_sum(qb, 0, k)
            else:
                a = block_total - span_sum(rb, k, m)
                b = block_squares - span_sum(qb, k, m)
            s1[first] += a
            s2[first] += b
            s1[first + 1] += block_total - a
            s2[first + 1] += block_squares - b
        else:
            i = first
            start = 0
            while True:
                nxt = edges[i + 1] - lo if i + 1 < n_edges and edges[i + 1] < hi else m
                s1[i] += reduceat_sum(rb, start, nxt)
                s2[i] += reduceat_sum(qb, start, nxt)
                if nxt == m:
                    break
                start = nxt
                i += 1
        s3 += dot_sum(qb, rb)
        s4 += dot_sum(qb, qb)
        for j in range(m):
            d = rb[j] - threshold if threshold != 0.0 else rb[j]
            d = min(d, 0.0)
            qb[j] = d * d
        down += pairwise_sum(qb)
    if stretch / peak < min_ratio:
        min_ratio = stretch / peak
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
                eb = e[:m]
                ev = _equity_block(
                    close, entry, exit_, side, units, cash_in, cash_out, capital, ev, lo, eb
                )
                for j in range(m):
                    x = (eb[j] / prev - 1.0) - mean
                    sq[j] = x * x
                    prev = eb[j]
                dev += pairwise_sum(sq[:m])
            out[DEV] = dev
            out[HAS_DEV] = 1.0
    return OK


@kernel(
    "void(int8[:], float64[:], float64[:], float64[:], float64[:], int64[:], int64[:],"
    " float64[:])",
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
