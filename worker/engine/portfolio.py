"""Sizing with one shared cash balance, the equity curve and the trade list.

Sizing is the only sequential part: a position's units depend on equity when it opens,
which depends on every earlier fill. The loop therefore runs over *fills* (two per trade),
never over bars; everything per bar is vectorised afterwards.

Sizing rule: at an entry, ``units = min((position_size * equity - commission_fixed) /
(price * (1 + commission)), (free - commission_fixed) / (price * (margin_initial +
commission)))`` (rounded down for integer units), where ``equity = cash + Σ units_j *
mark_j`` and ``free = equity - margin_initial * Σ |units_j| * mark_j`` over the other
open positions, marked at the fill's price field (open for open fills, close for close
fills; last close if a symbol has no bar then). All entries of one timestamp and phase
are sized from the same equity; each one takes ``margin_initial * units * price + fee``
from ``free`` for the next (in symbol order); ``free <= 1e-9 * |equity|`` counts as 0.
With ``max_volume_share`` an entry
gets at most that fraction of its fill bar's volume (``volume_limits``; exits are never
capped). A leg that gets no unit is skipped. With
``margin_initial = 1`` (the default) a long never borrows: cash stays >= 0. Short sales
credit the proceeds to cash. Costs of carry (carry.py) are posted to cash at every fill
and month start; the loop keeps the posted balance, and sizes from it plus what has accrued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worker.engine.carry import Carry, Posts, carried_cash
from worker.engine.curve_kernels import single_equity
from worker.engine.equity_stats import EquityBlock, array_block
from worker.engine.execution import CLOSE_ENTRY, Legs
from worker.engine.market import F64, I64, MarketData
from worker.engine.params import RunConfig

#: Free margin at or below this fraction of equity is rounding noise of used-up margin: 0.
FREE_EPSILON = 1e-9


@dataclass(frozen=True, eq=False)
class Fills:
    legs: Legs
    units: F64  # per leg, 0 for skipped legs
    fees: F64  # entry + exit fees per leg
    ev_t: I64  # grid index per fill event, non-decreasing
    ev_cash: F64  # cash after each fill event
    posts: Posts | None = None  # where carry was posted, when a carry rate is set


@dataclass(frozen=True, eq=False)
class Curve:
    equity: F64
    cash: F64
    position_value: F64  # signed market value of positions
    gross: F64 | None  # Σ |position value| when several symbols (else |position_value|)
    carry_paid: tuple[float, float, float, float] | None = None  # carry.CARRY_METRICS

    @property
    def gross_value(self) -> F64:
        out: F64 = np.abs(self.position_value) if self.gross is None else self.gross
        return out


def _size(
    value: float,
    free: float,
    price: float,
    commission: float,
    margin: float,
    fixed: float,
    integer: bool,
    limit: float = math.inf,
) -> float:
    """Units for ``value`` of equity, capped at what ``free`` margin buys after costs and
    at ``limit`` units (the volume cap)."""
    units = (value - fixed) / (price * (1.0 + commission))
    cap = (free - fixed) / (price * (margin + commission))
    if cap < units:
        units = cap
    if limit < units:
        units = limit
    if integer:
        units = math.floor(units) if math.isfinite(units) else 0.0
    return units if units > 0 and math.isfinite(units) else 0.0


def size_single(legs: Legs, cfg: RunConfig, capital: float, size: float) -> Fills:
    """One symbol: legs never overlap, so equity (and free margin) at an entry is the cash.
    Without leverage and with ``position_size <= 1`` the margin cap cannot bind."""
    c, fixed, margin = cfg.commission, cfg.commission_fixed, cfg.margin_initial
    capped = not (margin == 1.0 and size <= 1.0)
    pe, px = legs.entry_price, legs.exit_price
    long = legs.side > 0
    # cash per unit at entry and exit, commission included
    cin = np.where(long, -pe * (1.0 + c), pe * (1.0 - c))
    cout = np.where(long, px * (1.0 - c), -px * (1.0 + c))
    denom = pe * (1.0 + c)
    m = legs.count
    if cfg.units == "fractional" and fixed == 0.0 and m:
        # cash grows by a factor per trade that does not depend on cash: a cumulative product
        # (the margin cap is then a constant fraction: min(size, (1 + c) / (margin + c)))
        if capped:
            size = min(size, (1.0 + c) / (margin + c))
        f_in = 1.0 + size * cin / denom
        growth = f_in + size * cout / denom
        before = capital * np.concatenate([[1.0], np.cumprod(growth[:-1])])
        if np.all(before > 0) and np.all(np.isfinite(before)):
            units = size * before / denom
            ev_cash = np.empty(2 * m)
            ev_cash[0::2] = before * f_in
            ev_cash[1::2] = before * growth
            fees = units * (pe + px) * c
            return Fills(legs, units, fees, _interleave(legs), ev_cash)
    cap = pe * (margin + c) if capped else None
    return _size_single_loop(legs, cfg, capital, size, cin, cout, denom, cap)


def _interleave(legs: Legs) -> I64:
    ev_rows = np.empty(2 * legs.count, dtype=np.int64)
    ev_rows[0::2] = legs.entry_row
    ev_rows[1::2] = legs.exit_t
    return ev_rows


def _size_single_loop(
    legs: Legs,
    cfg: RunConfig,
    capital: float,
    size: float,
    cin: F64,
    cout: F64,
    denom: F64,
    cap: F64 | None,
) -> Fills:
    """``cap``: per leg ``price * (margin_initial + commission)`` when the margin cap can
    bind, else None."""
    fixed, integer = cfg.commission_fixed, cfg.units == "integer"
    cash_in: list[float] = []
    cash_out: list[float] = []
    units: list[float] = []
    cash = capital
    floor = math.floor
    legs_in = zip(denom.tolist(), cin.tolist(), cout.tolist(), strict=True)
    add_in, add_out, add_u = cash_in.append, cash_out.append, units.append
    caps = iter(cap.tolist()) if cap is not None else None
    try:
        if integer and fixed == 0.0 and caps is None:  # the default, without the zeros
            for d, ci, co in legs_in:
                u = floor(size * cash / d)  # raises on inf/NaN: handled below
                if u > 0:
                    after_entry = cash + u * ci
                    cash = after_entry + u * co
                else:
                    u, after_entry = 0, cash
                add_in(after_entry)
                add_out(cash)
                add_u(u)
        for d, ci, co in legs_in:
            u = (size * cash - fixed) / d
            if caps is not None:
                u = min(u, (cash - fixed) / next(caps))
            if integer:
                u = floor(u)  # raises on inf/NaN: handled below
            if u > 0:
                after_entry = cash + u * ci - fixed
                cash = after_entry + u * co - fixed
            else:
                u, after_entry = 0, cash
            add_in(after_entry)
            add_out(cash)
            add_u(u)
    except (OverflowError, ValueError):  # equity became infinite or NaN: stop trading
        while len(units) < legs.count:
            cash_in.append(cash)
            cash_out.append(cash)
            units.append(0)
    u_arr = np.array(units, dtype=np.float64)
    u_arr[~np.isfinite(u_arr)] = 0.0
    ev_cash = np.empty(2 * legs.count)
    ev_cash[0::2] = cash_in
    ev_cash[1::2] = cash_out
    traded = u_arr > 0
    fees = np.where(traded, u_arr * (legs.entry_price + legs.exit_price) * cfg.commission, 0.0)
    fees = fees + np.where(traded, 2.0 * fixed, 0.0)
    return Fills(legs, u_arr, fees, _interleave(legs), ev_cash)


def size_multi(
    md: MarketData,
    legs: Legs,
    cfg: RunConfig,
    capital: float,
    size: float,
    carry: Carry | None = None,
) -> Fills:
    """Several symbols sharing one cash balance: fills in time order (see module doc).
    Also the path of one symbol when carry or the volume cap is on."""
    c, fixed, integer = cfg.commission, cfg.commission_fixed, cfg.units == "integer"
    margin = cfg.margin_initial
    m = legs.count
    close_w, open_mark = md.marks
    t_entry = md.t_idx[legs.entry_row]
    t_exit = legs.exit_t
    ev_t = np.concatenate([t_entry, t_exit])
    ev_phase = np.concatenate([legs.entry_phase, legs.exit_phase])
    ev_sym = np.concatenate([legs.sym, legs.sym])
    order = np.lexsort((ev_sym, ev_phase, ev_t))
    ev_leg = np.concatenate([np.arange(m), np.arange(m)])[order].tolist()
    is_entry = (order < m).tolist()
    ev_t_sorted = ev_t[order]
    t_l, ph_l = ev_t_sorted.tolist(), ev_phase[order].tolist()
    sym_l, sd_l = legs.sym.tolist(), legs.side.tolist()
    pe_l, px_l = legs.entry_price.tolist(), legs.exit_price.tolist()
    book = np.zeros((2, md.n_symbols))  # per symbol: signed units held, and |units|
    held, gross = book[0], book[1]
    units = [0.0] * m
    fees = [0.0] * m
    ev_cash = [0.0] * (2 * m)
    cash = capital
    group: tuple[int, int] | None = None
    equity = free = capital
    noise = FREE_EPSILON * capital
    limits = volume_limits(md, legs, cfg)
    posts = Posts(carry) if carry is not None else None
    t_post = 0  # bar of the last carry posting: holdings and cash unchanged since
    for e in range(2 * m):
        k = ev_leg[e]
        u_k = units[k]
        t = t_l[e]
        if is_entry[e]:
            key = (t, ph_l[e])
            if key != group:
                group = key
                row = close_w[t] if key[1] == CLOSE_ENTRY else open_mark[t]
                value, used = (book @ row).tolist()
                now = cash
                if carry is not None:
                    now = carry.accrue(t_post, t, cash, carry.weights(held), None)
                equity = now + value
                free = equity - margin * used
                noise = FREE_EPSILON * abs(equity)
            pe = pe_l[k]
            spare = free if free > noise else 0.0
            limit = math.inf if limits is None else limits[k]
            u = _size(size * equity, spare, pe, c, margin, fixed, integer, limit)
            if u > 0.0:
                if posts is not None:
                    cash = posts.carry.accrue(t_post, t, cash, posts.carry.weights(held), posts)
                    t_post = t
                    posts.fill_e.append(e)
                fee = u * pe * c + fixed
                free -= margin * u * pe + fee
                cash = cash - sd_l[k] * u * pe - fee
                held[sym_l[k]] = sd_l[k] * u
                gross[sym_l[k]] = u
                units[k] = u
                fees[k] = fee
        elif u_k > 0.0:
            if posts is not None:
                cash = posts.carry.accrue(t_post, t, cash, posts.carry.weights(held), posts)
                t_post = t
                posts.fill_e.append(e)
            px = px_l[k]
            fee = u_k * px * c + fixed
            cash = cash + sd_l[k] * u_k * px - fee
            held[sym_l[k]] = 0.0
            gross[sym_l[k]] = 0.0
            fees[k] += fee
        ev_cash[e] = cash
    if posts is not None:
        posts.close(md.n_times - 1, t_post, cash, posts.carry.weights(held))
    return Fills(legs, np.array(units), np.array(fees), ev_t_sorted, np.array(ev_cash), posts)


def volume_limits(md: MarketData, legs: Legs, cfg: RunConfig) -> list[float] | None:
    """Per leg, the most units its entry may fill: ``max_volume_share`` of the entry
    bar's volume (None without a cap)."""
    if cfg.max_volume_share is None:
        return None
    out: list[float] = (cfg.max_volume_share * md.volume[legs.entry_row]).tolist()
    return out


def equity_curve(md: MarketData, fills: Fills, capital: float) -> Curve:
    """Bar-close snapshot on the grid: cash after the last fill at or before t plus the
    positions held at t's close valued at last-known closes."""
    if md.n_symbols == 1 and fills.posts is None:
        return _single_curve(md, fills, capital)
    t_n = md.grid_ts.shape[0]
    # state after the last event at or before t: repeat each event's value until the next
    starts = np.concatenate([[0], fills.ev_t])
    lengths = np.diff(np.append(starts, t_n))
    cash = np.repeat(np.concatenate([[capital], fills.ev_cash]), lengths)
    if md.n_symbols == 1:
        legs = fills.legs
        ev_pos = np.zeros(2 * legs.count)
        ev_pos[0::2] = legs.side * fills.units
        value = np.repeat(np.concatenate([[0.0], ev_pos]), lengths)
        value *= md.close
        if fills.posts is None:
            return Curve(cash + value, cash, value, None)
        done = carried_cash(
            fills.posts, fills.ev_t, fills.ev_cash, capital, value, np.maximum(-value, 0.0)
        )
        return Curve(done.cash + value, done.cash, value, None, done.paid)
    pos_w = _positions_wide(md, fills)
    close_w = md.marks[0]
    value_w = pos_w * close_w
    position_value = value_w.sum(axis=1)
    gross = np.abs(value_w).sum(axis=1)
    if fills.posts is None:
        return Curve(cash + position_value, cash, position_value, gross)
    short = np.maximum(-value_w, 0.0).sum(axis=1)
    done = carried_cash(fills.posts, fills.ev_t, fills.ev_cash, capital, position_value, short)
    return Curve(done.cash + position_value, done.cash, position_value, gross, done.paid)


def _single_curve(md: MarketData, fills: Fills, capital: float) -> Curve:
    """``equity_curve`` of one symbol without carry, in one compiled pass."""
    ev_pos = np.zeros(2 * fills.legs.count)
    ev_pos[0::2] = fills.legs.side * fills.units
    equity, cash, value = (np.empty(md.n_times) for _ in range(3))
    single_equity(fills.ev_t, fills.ev_cash, ev_pos, capital, md.close, equity, cash, value)
    return Curve(equity, cash, value, None)


def equity_blocks(md: MarketData, fills: Fills, capital: float) -> EquityBlock:
    """The equity curve of ``equity_curve`` as a block producer: one symbol builds each
    block from the fill events (the same per-bar operations), several symbols build the
    whole curve once."""
    if md.n_symbols != 1 or fills.posts is not None:
        return array_block(equity_curve(md, fills, capital).equity)
    legs = fills.legs
    starts = np.concatenate([[0], fills.ev_t])  # state i holds from bar starts[i]
    cash_v = np.concatenate([[capital], fills.ev_cash])
    pos_v = np.zeros(2 * legs.count + 1)
    pos_v[1::2] = legs.side * fills.units
    close = md.close
    held = np.diff(starts, append=md.n_times)  # bars each state holds

    def block(lo: int, hi: int) -> F64:
        i0 = int(np.searchsorted(starts, lo, side="right")) - 1
        i1 = int(np.searchsorted(starts, hi - 1, side="right"))
        lengths = held[i0:i1].copy()
        if i1 - i0 == 1:
            lengths[0] = hi - lo
        else:
            lengths[0] = starts[i0 + 1] - lo
            lengths[-1] = hi - starts[i1 - 1]
        value = np.repeat(pos_v[i0:i1], lengths)
        value *= close[lo:hi]
        value += np.repeat(cash_v[i0:i1], lengths)
        return value

    return block


def exposure(md: MarketData, fills: Fills) -> float | None:
    """Fraction of timeline bars during which some position was open at any moment (entry
    and exit bars count): the union of the executed legs' [entry, exit] bar intervals,
    computed on the legs, not the bars."""
    t_n = md.n_times
    if t_n == 0:
        return None
    done = fills.units > 0
    if not done.any():
        return 0.0
    entry_row = fills.legs.entry_row[done]
    t_in = entry_row if md.n_symbols == 1 else md.t_idx[entry_row]
    t_end = fills.legs.exit_t[done] + 1
    order = np.argsort(t_in, kind="stable")
    t_in, t_end = t_in[order], t_end[order]
    reach = np.maximum.accumulate(t_end)
    covered_from = np.maximum(t_in[1:], reach[:-1])
    covered = int(t_end[0] - t_in[0]) + int(np.maximum(t_end[1:] - covered_from, 0).sum())
    return covered / t_n


def _positions_wide(md: MarketData, fills: Fills) -> F64:
    """T x S units held at each bar's close: per symbol, each fill's holding repeated from
    its bar to the next fill's (legs are sorted by symbol then entry, so a symbol's fills
    are in time order; of two fills at one bar the later one holds)."""
    legs = fills.legs
    t_n, s_n = md.grid_ts.shape[0], md.n_symbols
    done = fills.units > 0
    sym = legs.sym[done]
    times = np.empty(2 * sym.shape[0], dtype=np.int64)
    times[0::2] = md.t_idx[legs.entry_row[done]]
    times[1::2] = legs.exit_t[done]
    held = np.zeros(2 * sym.shape[0] + 1)
    held[1::2] = legs.side[done] * fills.units[done]
    bounds = 2 * np.searchsorted(sym, np.arange(s_n + 1))
    out: F64 = np.zeros((t_n, s_n))
    for s, (lo, hi) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
        if lo == hi:
            continue
        starts = np.concatenate([[0], times[lo:hi]])
        values = np.concatenate([[0.0], held[lo + 1 : hi + 1]])
        out[:, s] = np.repeat(values, np.diff(starts, append=t_n))
    return out
