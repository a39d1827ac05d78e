"""Compiled legs of a grid combination's common case (grid_fast.py says which): one
symbol, market entries, no stops, carry, volume cap or maintenance margin.

``crossover_legs`` is the SMA crossover's signal, desired positions and trade legs in one
pass over the bars (the moving averages cut from the running sum as ``indicators.sma_of``
does); ``sized_legs`` prices and sizes them (``build_legs``, ``size_single``);
``trade_pass`` sums what the trade metrics need. The equity curve's pass is in
grid_curve.py. Sums add in numpy's order (numpy_sums.py), so every number is that of
``simulate_metrics_and_sums``. Kernels only: the wrappers are in grid_fast.py.
"""

from __future__ import annotations

import math

import numpy as np

from worker.engine.jit import kernel
from worker.engine.market import F64, I8, I64, B
from worker.engine.numpy_sums import pairwise_sum

#: Bars per block: ``equity_stats.STATS_BLOCK`` (tests check they agree).
BLOCK = 1 << 16
#: Result slots (``out``) of ``grid_curve.curve_pass`` and ``trade_pass``, and the curve
#: pass's status codes.
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
    LOSSES,
) = range(23)
SLOTS = 23
OK, NOT_FINITE, NOT_POSITIVE = range(3)
#: Signature types: contiguous vectors, read-only ones (MarketData's price columns).
RO = "Array(float64, 1, 'C', readonly=True)"
VF, VI, VS, VB = "float64[::1]", "int64[::1]", "int8[::1]", "boolean[::1]"


#: Two averages whose approximations differ by more than this fraction of the price level
#: compare as their exact values do (the approximations are within a few 1e-16 of it).
NEAR = 1e-9


@kernel(f"float64({RO}, float64, int64, int64)", error_model="numpy")
def _sma_at(csum: F64, x0: float, period: int, t: int) -> float:
    """``indicators._sma_known`` at row t (one symbol): NaN during the warm-up."""
    if t < period - 1:
        return np.nan
    if t == period - 1:
        return float(csum[t] / float(period) + x0)
    return float((csum[t] - csum[t - period]) / float(period) + x0)


#: ``compare_averages``'s mark for a row whose two approximations are too close to tell apart.
UNSURE = 2


@kernel(f"void({RO}, float64, int64, int64, int64, int64, {VS})", error_model="numpy")
def compare_averages(csum: F64, x0: float, fast: int, slow: int, lo: int, m: int, cmp: I8) -> None:
    """``cmp[1 + j]`` = sign(fast SMA - slow SMA) at row lo + j (0 for ties and NaN), as
    ``cross_hold`` compares the exact averages: each window's mean is approximated by a
    multiplication, and only rows whose two approximations are too close to tell apart
    (``NEAR``, marked ``UNSURE``) are divided exactly."""
    inv_f = 1.0 / fast
    inv_s = 1.0 / slow
    start = min(max(slow, lo), lo + m)
    for t in range(lo, start):
        a = _sma_at(csum, x0, fast, t)
        b = _sma_at(csum, x0, slow, t)
        cmp[1 + t - lo] = (1 if a > b else 0) - (1 if a < b else 0)
    tol = NEAR * abs(x0)
    count = lo + m - start
    # views indexed from 0: numba then drops the negative-index checks and vectorises
    now = csum[start : start + count]
    back_f = csum[start - fast : start - fast + count]
    back_s = csum[start - slow : start - slow + count]
    out = cmp[1 + start - lo : 1 + start - lo + count]
    unsure = 0
    for j in range(count):
        a = (now[j] - back_f[j]) * inv_f
        b = (now[j] - back_s[j]) * inv_s
        gap = a - b
        close = abs(gap) <= tol + NEAR * (abs(a) + abs(b))
        out[j] = UNSURE if close else (gap > 0) - (gap < 0)
        unsure += close
    if unsure:
        for j in range(count):
            if out[j] == UNSURE:
                a = (now[j] - back_f[j]) / float(fast) + x0
                b = (now[j] - back_s[j]) / float(slow) + x0
                out[j] = (a > b) - (a < b)


@kernel(f"int64(int64, int64, {VS}, {VI}, {VS}, int64)", error_model="numpy")
def _crosses(lo: int, m: int, cmp: I8, rows: I64, values: I8, k: int) -> int:
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
    f"Tuple(({VI}, {VI}, {VS}, {VB}))({RO}, float64, int64, int64, boolean, boolean)",
    error_model="numpy",
)
def crossover_legs(
    csum: F64, x0: float, fast: int, slow: int, long_only: bool, next_open: bool
) -> tuple[I64, I64, I8, B]:
    """Legs (entry row, exit row, side, exit at end of data) of ``cross_hold`` on the fast
    and slow SMAs, through ``desired_positions`` and ``build_legs`` (one symbol)."""
    n = csum.shape[0]
    size = min(BLOCK, max(n, 1))
    cmp = np.zeros(size + 1, dtype=np.int8)
    rows = np.empty(n, dtype=np.int64)
    values = np.empty(n, dtype=np.int8)
    k = 0
    for lo in range(0, n, BLOCK):
        m = min(BLOCK, n - lo)
        compare_averages(csum, x0, fast, slow, lo, m, cmp)
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
    f"UniTuple({VF}, 6)({RO}, {RO}, {VI}, {VI}, {VS}, {VB}, boolean, {VF})",
    error_model="numpy",
)
def sized_legs(
    open_: F64,
    close: F64,
    entry: I64,
    exit_: I64,
    side: I8,
    eod: B,
    next_open: bool,
    costs: F64,
) -> tuple[F64, F64, F64, F64, F64, F64]:
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
    f"void({VS}, {VF}, {VF}, {VF}, {VF}, {VI}, {VI}, {VF}, {VF}, {VF})",
    error_model="numpy",
)
def trade_pass(
    side: I8,
    units: F64,
    pe: F64,
    px: F64,
    fees: F64,
    entry: I64,
    exit_: I64,
    out: F64,
    pnl: F64,
    ret: F64,
) -> None:
    """What ``trade_metrics.trade_stats``, ``commissions_paid``, ``exposure`` and
    ``kelly_criterion`` take from the executed legs (``simulate._metrics``), into
    ``out[TRADES .. COVERED]`` and ``out[LOSSES]``; the executed legs' pnl and return (as
    ``simulate._metrics`` computes them) into the first ``out[TRADES]`` of ``pnl``, ``ret``
    (each as long as ``units``)."""
    m = units.shape[0]
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
        # written on both sides and kept by the count: no branch on the pnl's sign
        wins[n_win] = p
        losses[n_loss] = p
        n_win += p > 0
        n_loss += p < 0
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
    out[LOSSES] = n_loss
