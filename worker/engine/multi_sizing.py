"""Sizing fills of several symbols against one shared cash balance.

Sizing rule: at an entry, ``units = min((position_size * equity - commission_fixed) /
(price * (1 + commission)), (free - commission_fixed) / (price * (margin_initial +
commission)))`` (rounded down for integer units), where ``equity = cash + Σ units_j *
mark_j`` and ``free = equity - margin_initial * Σ |units_j| * mark_j`` over the other
open positions, marked at the fill's price field (open for open fills, close for close
fills; last close if a symbol has no bar then). All entries of one timestamp and phase
are sized from the same equity; each one takes ``margin_initial * units * price + fee``
from ``free`` for the next (in symbol order); ``free <= 1e-9 * |equity|`` counts as 0.
With ``max_volume_share`` an entry gets at most that fraction of its fill bar's volume
(``volume_limits``; exits are never capped). A leg that gets no unit is skipped. With
``margin_initial = 1`` (the default) a long never borrows: cash stays >= 0. Short sales
credit the proceeds to cash. Costs of carry (carry.py) are posted to cash at every fill
and month start; the loop keeps the posted balance, and sizes from it plus what has accrued.

``size_multi`` runs the loop compiled (portfolio_kernel.size_fills); the same loop in
Python, the reference the kernel is tested against, is tests/engine/sizing_reference.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worker.engine.carry import Carry, Posts
from worker.engine.execution import CLOSE_ENTRY, LIQUIDATION, Legs
from worker.engine.market import I64, MarketData
from worker.engine.params import RunConfig
from worker.engine.portfolio import Fills
from worker.engine.portfolio_kernel import size_fills

#: The fill phases: execution.OPEN_EXIT (0) .. LIQUIDATION.
PHASES = LIQUIDATION + 1
_NO_CARRY_MARKS = np.zeros((1, 1))
_NO_CARRY_TIMES = np.zeros(1, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class _Events:
    """The fill events in the loop's order: time, phase, then symbol; entries first."""

    order: I64  # index into [entries..., exits...]
    t: I64


def _events(md: MarketData, legs: Legs) -> _Events:
    t_entry = md.t_idx[legs.entry_row]
    ev_t = np.concatenate([t_entry, legs.exit_t])
    ev_phase = np.concatenate([legs.entry_phase, legs.exit_phase])
    ev_sym = np.concatenate([legs.sym, legs.sym])
    # one stable sort on (time, phase, symbol) as one integer: phases are below PHASES
    key = (ev_t * PHASES + ev_phase) * max(md.n_symbols, 1) + ev_sym
    order = np.argsort(key, kind="stable")
    return _Events(order, ev_t[order])


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
    m = legs.count
    ev = _events(md, legs)
    order = ev.order
    phase = np.concatenate([legs.entry_phase, legs.exit_phase])[order]
    close_st = md.close_by_symbol
    # the open marks only when some entry fills elsewhere than at a close
    at_close = bool((legs.entry_phase == CLOSE_ENTRY).all())
    open_st = close_st if at_close else md.open_mark_by_symbol
    limits = volume_limits(md, legs, cfg)
    units, fees, ev_cash = np.zeros(m), np.zeros(m), np.zeros(2 * m)
    n = np.zeros(2, dtype=np.int64)
    if carry is None:
        rates, years, marks, months = (
            (0.0, 0.0, 0.0),
            _NO_CARRY_MARKS[0],
            _NO_CARRY_MARKS,
            _NO_CARRY_TIMES,
        )
        fill_e, month_t, month_cash = _NO_CARRY_TIMES, _NO_CARRY_TIMES, _NO_CARRY_MARKS[0]
    else:
        rates = (carry.interest, carry.borrow, carry.funding)
        years, months = carry.years, carry.months
        marks = np.ascontiguousarray(carry.marks, dtype=np.float64)
        fill_e = np.zeros(2 * m, dtype=np.int64)
        month_t = np.zeros(months.shape[0], dtype=np.int64)
        month_cash = np.zeros(months.shape[0])
    size_fills(
        (order % max(m, 1)).astype(np.int64),
        order < m,
        ev.t.astype(np.int64),
        phase.astype(np.int8),
        legs.sym.astype(np.int64),
        legs.side.astype(np.int8),
        np.ascontiguousarray(legs.entry_price, dtype=np.float64),
        np.ascontiguousarray(legs.exit_price, dtype=np.float64),
        np.full(m, math.inf) if limits is None else np.array(limits, dtype=np.float64),
        close_st,
        open_st,
        float(capital),
        float(size),
        float(cfg.commission),
        float(cfg.commission_fixed),
        float(cfg.margin_initial),
        cfg.units == "integer",
        carry is not None,
        *rates,
        np.ascontiguousarray(years, dtype=np.float64),
        marks,
        np.ascontiguousarray(months, dtype=np.int64),
        units,
        fees,
        ev_cash,
        fill_e,
        month_t,
        month_cash,
        n,
    )
    posts = None
    if carry is not None:
        k = int(n[1])
        posts = Posts(carry, month_t[:k].tolist(), month_cash[:k].tolist(), fill_e[: n[0]].tolist())
    return Fills(legs, units, fees, ev.t, ev_cash, posts)


def volume_limits(md: MarketData, legs: Legs, cfg: RunConfig) -> list[float] | None:
    """Per leg, the most units its entry may fill: ``max_volume_share`` of the entry
    bar's volume (None without a cap)."""
    if cfg.max_volume_share is None:
        return None
    out: list[float] = (cfg.max_volume_share * md.volume[legs.entry_row]).tolist()
    return out
