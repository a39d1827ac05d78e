"""Kernels of the multi-symbol portfolio: sizing fills against one cash balance (with costs
of carry), and the per-bar sums of its curve and of the buy-and-hold benchmark.

Every number is bit-for-bit the one of the numpy code they replace:

* ``size_fills`` copies the reference loop of multi_sizing.py operation for operation.
  Its products over the symbols (``book · marks``, ``Δmarks · weights``) are plain loops
  adding left to right, as ``ordered_dot`` does in the reference: no BLAS, whose kernel
  (picked by the CPU at run time) would make the last bits depend on the machine
  (tests/engine/test_portfolio_kernel.py checks the equality on every configuration).
* Rows are added by ``numpy_sums.pairwise_sum``, in the order of numpy's ``sum(axis=1)``,
  so the per-bar sums need no T x S array.
"""

from __future__ import annotations

import math

import numpy as np

from worker.engine.execution import CLOSE_ENTRY
from worker.engine.jit import kernel
from worker.engine.market import F64, I8, I64, B
from worker.engine.numpy_sums import pairwise_sum

#: Free margin at or below this fraction of equity is rounding noise of used-up margin: 0.
FREE_EPSILON = 1e-9

# inputs may be read-only (wide views of the bars' columns)
_F1 = "Array(float64, 1, 'C', readonly=True)"
_F2 = "Array(float64, 2, 'C', readonly=True)"
_I1 = "Array(int64, 1, 'C', readonly=True)"
_I8 = "Array(int8, 1, 'C', readonly=True)"
_B1 = "Array(boolean, 1, 'C', readonly=True)"


@kernel(f"void({_F1}, float64, float64, float64[::1])")
def carry_weights(held: F64, funding: float, borrow: float, out: F64) -> None:
    """Per symbol, the carry rate on one unit's close value (carry.Carry.weights)."""
    for s in range(held.shape[0]):
        short = -held[s]
        if not (short >= 0.0 or math.isnan(short)):  # np.maximum(-held, 0.0)
            short = 0.0
        out[s] = funding * held[s] + borrow * short


@kernel(
    f"float64(int64, int64, float64, {_F1}, float64, {_F1}, {_F2}, {_I1}, boolean, "
    "int64[::1], float64[::1], int64[::1])"
)
def accrue(
    t0: int,
    t1: int,
    cash: float,
    w: F64,
    interest: float,
    years: F64,
    marks: F64,
    months: I64,
    record: bool,
    month_t: I64,
    month_cash: F64,
    n: I64,
) -> float:
    """carry.Carry.accrue: posted cash at bar t1 from posted ``cash`` at t0's close; with
    ``record`` the month postings on the way go to ``month_t``/``month_cash`` at ``n[1]``."""
    if t1 <= t0:
        return cash
    lo = np.searchsorted(months, t0, side="right")
    hi = np.searchsorted(months, t1, side="right")
    t1_posts = hi > lo and months[hi - 1] == t1
    a = t0
    for j in range(lo, hi + 1):
        m = months[j] if j < hi else t1
        if m == a:
            continue
        cost = 0.0
        for s in range(w.shape[0]):
            cost += (marks[m, s] - marks[a, s]) * w[s]
        if cash < 0:
            cost -= interest * cash * (years[m] - years[a])
        cash -= cost
        if record and (m != t1 or t1_posts):
            month_t[n[1]] = m
            month_cash[n[1]] = cash
            n[1] += 1
        a = m
    return cash


@kernel(
    f"void({_I1}, {_B1}, {_I1}, {_I8}, {_I1}, {_I8}, {_F1}, {_F1}, {_F1}, {_F2}, {_F2}, "
    "float64, float64, float64, float64, float64, boolean, "
    f"boolean, float64, float64, float64, {_F1}, {_F2}, {_I1}, "
    "float64[::1], float64[::1], float64[::1], int64[::1], int64[::1], float64[::1], int64[::1])"
)
def size_fills(
    ev_leg: I64,
    is_entry: B,
    ev_t: I64,
    ev_phase: I8,
    sym: I64,
    side: I8,
    pe: F64,
    px: F64,
    limits: F64,
    close_st: F64,
    open_st: F64,
    capital: float,
    size: float,
    c: float,
    fixed: float,
    margin: float,
    integer: bool,
    carried: bool,
    interest: float,
    borrow: float,
    funding: float,
    years: F64,
    marks: F64,
    months: I64,
    units: F64,
    fees: F64,
    ev_cash: F64,
    fill_e: I64,
    month_t: I64,
    month_cash: F64,
    n: I64,
) -> None:
    """Size every fill event in order (tests/engine/sizing_reference.py, the reference). Out:
    ``units``/``fees`` per leg, ``ev_cash`` per event; with ``carried`` the executed events
    (``fill_e``, ``n[0]`` of them) and month postings (``n[1]``)."""
    s_n = close_st.shape[0]
    book = np.zeros((2, s_n))  # per symbol: signed units held, and |units|
    w = np.zeros(s_n)
    cash = capital
    g_t, g_ph = -1, -1
    equity = free = capital
    noise = FREE_EPSILON * capital
    t_post = 0
    look_t0, look_n = -1, 0  # the group's look at the accrual: from bar, postings end
    for e in range(ev_leg.shape[0]):
        k = ev_leg[e]
        t = ev_t[e]
        sd = side[k]
        if is_entry[e]:
            if t != g_t or ev_phase[e] != g_ph:
                g_t, g_ph = t, ev_phase[e]
                row = close_st if g_ph == CLOSE_ENTRY else open_st
                value = used = 0.0
                for s in range(s_n):
                    value += book[0, s] * row[s, t]
                    used += book[1, s] * row[s, t]
                now = cash
                if carried:  # a look, kept for the group's first fill (nothing fills before it)
                    carry_weights(book[0], funding, borrow, w)
                    posted = n[1]
                    now = accrue(t_post, t, cash, w, interest, years, marks, months, True,
                                 month_t, month_cash, n)  # fmt: skip
                    look_t0, look_n = t_post, n[1]
                    n[1] = posted
                equity = now + value
                free = equity - margin * used
                noise = FREE_EPSILON * abs(equity)
            p = pe[k]
            spare = free if free > noise else 0.0
            u = (size * equity - fixed) / (p * (1.0 + c))
            cap = (spare - fixed) / (p * (margin + c))
            if cap < u:
                u = cap
            if limits[k] < u:
                u = limits[k]
            if integer:
                u = math.floor(u) if math.isfinite(u) else 0.0
            if not (u > 0 and math.isfinite(u)):
                u = 0.0
            if u > 0.0:
                if carried:
                    if t_post == look_t0:  # the look's accrual, and its month postings
                        cash = now
                        n[1] = look_n
                    else:
                        carry_weights(book[0], funding, borrow, w)
                        cash = accrue(t_post, t, cash, w, interest, years, marks, months, True,
                                      month_t, month_cash, n)  # fmt: skip
                    look_t0 = -1
                    t_post = t
                    fill_e[n[0]] = e
                    n[0] += 1
                fee = u * p * c + fixed
                free -= margin * u * p + fee
                cash = cash - sd * u * p - fee
                book[0, sym[k]] = sd * u
                book[1, sym[k]] = u
                units[k] = u
                fees[k] = fee
        elif units[k] > 0.0:
            if carried:
                carry_weights(book[0], funding, borrow, w)
                cash = accrue(t_post, t, cash, w, interest, years, marks, months, True,
                              month_t, month_cash, n)  # fmt: skip
                look_t0 = -1
                t_post = t
                fill_e[n[0]] = e
                n[0] += 1
            u = units[k]
            fee = u * px[k] * c + fixed
            cash = cash + sd * u * px[k] - fee
            book[0, sym[k]] = 0.0
            book[1, sym[k]] = 0.0
            fees[k] += fee
        ev_cash[e] = cash
    if carried:  # carry.Posts.close: the month postings after the last fill
        t_end = close_st.shape[1] - 1
        hi = np.searchsorted(months, t_end, side="right")
        if hi and months[hi - 1] > t_post:
            carry_weights(book[0], funding, borrow, w)
            accrue(t_post, months[hi - 1], cash, w, interest, years, marks, months, True,
                   month_t, month_cash, n)  # fmt: skip


#: The most symbols the curve kernels sum per bar (one pairwise block of numpy's sum; wider
#: portfolios take the numpy path, which builds T x S arrays).
ROW_SUM_MAX = 128


@kernel(f"void({_I1}, {_I1}, {_F1}, {_I1}, {_F2}, float64[::1], float64[::1], float64[::1])")
def position_values(
    t_in: I64,
    t_out: I64,
    units: F64,
    bounds: I64,
    close_st: F64,
    value: F64,
    gross: F64,
    short: F64,
) -> None:
    """Per bar, Σ units x close, Σ |units x close| and Σ short value over the symbols: numpy's
    ``sum(axis=1)`` of the T x S values, without building them. The executed legs, by
    symbol then entry (symbol s: ``bounds[s]:bounds[s + 1]``), hold signed ``units`` from
    the close of bar ``t_in`` to before bar ``t_out``'s (of two fills at one bar the later
    holds). ``close_st``: last closes, symbol x timeline."""
    s_n, t_n = close_st.shape
    held = np.zeros(s_n)
    entered = np.zeros(s_n, dtype=np.bool_)
    at = bounds[:-1].copy()
    v = np.empty(s_n)
    a = np.empty(s_n)
    sh = np.empty(s_n)
    for t in range(t_n):
        for s in range(s_n):
            k = at[s]
            while k < bounds[s + 1]:
                if not entered[s]:
                    if t_in[k] > t:
                        break
                    held[s] = units[k]
                    entered[s] = True
                if t_out[k] > t:
                    break
                held[s] = 0.0
                entered[s] = False
                k += 1
            at[s] = k
            x = held[s] * close_st[s, t]
            v[s] = x
            a[s] = abs(x)
            y = -x
            sh[s] = y if (y >= 0.0 or math.isnan(y)) else 0.0  # np.maximum(-x, 0.0)
        value[t] = pairwise_sum(v)
        gross[t] = pairwise_sum(a)
        short[t] = pairwise_sum(sh)


@kernel(f"void({_F2}, {_F1}, float64, float64[::1])", error_model="numpy")
def buy_and_hold(close_st: F64, first: F64, capital: float, out: F64) -> None:
    """Per bar, ``capital`` x the mean over the symbols of close / first close (1 before a
    symbol's first bar): frames.buy_and_hold_curve's ``growth.mean(axis=1)``, unbuilt."""
    s_n, t_n = close_st.shape
    growth = np.empty(s_n)
    for t in range(t_n):
        for s in range(s_n):
            x = close_st[s, t]
            growth[s] = x / first[s] if x > 0 else 1.0
        out[t] = capital * (pairwise_sum(growth) / s_n)
