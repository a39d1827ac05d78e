"""Fills of one symbol, the equity curve and the trade list.

Sizing is the only sequential part: a position's units depend on equity when it opens,
which depends on every earlier fill. The loop therefore runs over *fills* (two per trade),
never over bars; everything per bar is vectorised afterwards.

Several symbols share the cash balance: multi_sizing.py sizes their fills (the sizing rule
is there); one symbol without carry or a volume cap is sized here (``size_single``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worker.engine.carry import Posts, carried_cash
from worker.engine.curve_kernels import single_equity
from worker.engine.equity_stats import EquityBlock, array_block
from worker.engine.execution import Legs
from worker.engine.market import F64, I64, MarketData
from worker.engine.params import RunConfig
from worker.engine.portfolio_kernel import ROW_SUM_MAX, position_values


@dataclass(frozen=True, eq=False)
class Fills:
    legs: Legs
    units: F64  # per leg, 0 for skipped legs
    fees: F64  # entry + exit fees per leg
    ev_t: I64  # grid index per fill event, non-decreasing
    ev_cash: F64  # cash after each fill event
    posts: Posts | None = None  # where carry was posted, when a carry rate is set


@dataclass(frozen=True, eq=False)
class Derived:
    """What the pass over a finite curve computed for the frames and the analysis: the
    equity frame's derived columns (``curve_kernels.exposure_drawdown``'s outputs) and the
    mean of the per-bar returns (``np.mean``)."""

    exposure: F64
    drawdown: F64
    positive: bool  # every equity > 0
    returns_mean: float


@dataclass(frozen=True, eq=False)
class Curve:
    equity: F64
    cash: F64
    position_value: F64  # signed market value of positions
    gross: F64 | None  # Σ |position value| when several symbols (else |position_value|)
    carry_paid: tuple[float, float, float, float] | None = None  # carry.CARRY_METRICS
    derived: Derived | None = None

    @property
    def gross_value(self) -> F64:
        out: F64 = np.abs(self.position_value) if self.gross is None else self.gross
        return out


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
    position_value, gross, short = _values(md, fills)
    if fills.posts is None:
        return Curve(cash + position_value, cash, position_value, gross)
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


def _values(md: MarketData, fills: Fills) -> tuple[F64, F64, F64]:
    """Per bar, over the symbols: Σ position value, Σ |position value| and Σ short value
    (at closes)."""
    if md.n_symbols > ROW_SUM_MAX:
        value_w = _positions_wide(md, fills) * md.marks[0]
        short = np.maximum(-value_w, 0.0).sum(axis=1)
        return value_w.sum(axis=1), np.abs(value_w).sum(axis=1), short
    legs = fills.legs
    done = fills.units > 0
    sym = legs.sym[done]
    out = np.empty((3, md.n_times))
    position_values(
        md.t_idx[legs.entry_row[done]],
        legs.exit_t[done],
        legs.side[done] * fills.units[done],
        np.searchsorted(sym, np.arange(md.n_symbols + 1)).astype(np.int64),
        md.close_by_symbol,
        *out,
    )
    return out[0], out[1], out[2]


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
