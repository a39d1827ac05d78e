"""The multi-symbol sizing loop in plain Python: the reference the compiled
``portfolio_kernel.size_fills`` (``multi_sizing.size_multi``) is tested against bit for bit.
The sizing rule is multi_sizing.py's module doc."""

from __future__ import annotations

import math

import numpy as np

from worker.engine.carry import Carry, Posts
from worker.engine.execution import CLOSE_ENTRY, Legs
from worker.engine.market import MarketData
from worker.engine.multi_sizing import _events, volume_limits
from worker.engine.ordered_dot import ordered_dot
from worker.engine.params import RunConfig
from worker.engine.portfolio import Fills
from worker.engine.portfolio_kernel import FREE_EPSILON


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


def size_multi_reference(
    md: MarketData,
    legs: Legs,
    cfg: RunConfig,
    capital: float,
    size: float,
    carry: Carry | None = None,
) -> Fills:
    """``size_multi`` in Python, operation for operation what portfolio_kernel.size_fills does."""
    c, fixed, integer = cfg.commission, cfg.commission_fixed, cfg.units == "integer"
    margin = cfg.margin_initial
    m = legs.count
    close_w, open_mark = md.marks
    ev = _events(md, legs)
    order = ev.order
    ev_phase = np.concatenate([legs.entry_phase, legs.exit_phase])
    ev_leg = np.concatenate([np.arange(m), np.arange(m)])[order].tolist()
    is_entry = (order < m).tolist()
    ev_t_sorted = ev.t
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
                value, used = ordered_dot(book, row).tolist()
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
