"""A deliberately plain, bar-by-bar reference simulator for the engine's execution model.

Written from docs/engine.md without looking at the vectorised code paths: one timestamp at
a time, five phases per timestamp (open exits, open entries, intrabar stops, close exits,
close entries), one shared cash balance, carry charged at the start of each timestamp.
Used by the property tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl


@dataclass
class Cfg:
    fill: str = "next_open"
    commission: float = 0.0
    commission_fixed: float = 0.0
    slippage_bps: float = 0.0
    direction: str = "long_short"
    units: str = "integer"
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    trailing_atr: dict[str, Any] | None = None  # {"period": int, "multiple": float}
    entry_order: str = "market"
    entry_offset: float = 0.0
    entry_valid_bars: int = 1
    margin_initial: float = 1.0
    margin_maintenance: float | None = None
    cash_interest_rate: float = 0.0
    borrow_rate: float = 0.0
    funding_rate: float = 0.0
    max_volume_share: float | None = None


YEAR_US = 365 * 86_400 * 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def wilder_atr(h: list[float], lo: list[float], c: list[float], period: int) -> list[float | None]:
    """ATR of one symbol's bars: true range averaged with alpha 1/period, seeded with the
    first bar's range, missing for the first period - 1 bars."""
    out: list[float | None] = []
    avg = 0.0
    for i in range(len(c)):
        tr = h[i] - lo[i]
        if i > 0:
            tr = max(tr, abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
        avg = tr if i == 0 else avg + (tr - avg) / period
        out.append(avg if i >= period - 1 else None)
    return out


def month(us: int) -> tuple[int, int]:
    day = EPOCH + timedelta(microseconds=us)
    return day.year, day.month


@dataclass
class Pos:
    side: int
    units: float
    entry_price: float
    entry_row: int
    entry_time: int
    fee_in: float
    best: float = 0.0  # highest high (long) / lowest low (short) of the bars checked so far


@dataclass
class SymState:
    rows: list[int]  # global row numbers of this symbol, in time order
    prev_d: int = 0
    pos: Pos | None = None
    last_close: float = 0.0
    cursor: int = 0  # index into rows of the next bar
    # a live limit/stop entry: (side, level, level below the reference, first i, last i)
    order: tuple[int, float, bool, int, int] | None = None


@dataclass
class Result:
    equity: list[float] = field(default_factory=list)
    in_market: list[bool] = field(default_factory=list)  # a position open during the bar
    trades: list[dict[str, Any]] = field(default_factory=list)
    ruin_t: int | None = None  # index of the timestamp whose close ruined the run
    margin_calls: int = 0
    carry_paid: float = 0.0


def run(
    bars: pl.DataFrame,
    signal: np.ndarray,
    cfg: Cfg,
    capital: float,
    size: float,
    order_levels: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> Result:
    """``order_levels``: per row, a rules strategy's long and short entry-order level (NaN: none),
    replacing the offset rule for that side."""
    ts = bars["timestamp"].dt.epoch("us").to_list()
    sym = bars["symbol"].to_list()
    o, h, lo, c, vol = (bars[k].to_list() for k in ("open", "high", "low", "close", "volume"))
    sig = [int(v) for v in signal]
    if cfg.direction == "long_only":
        sig = [max(v, 0) for v in sig]
    slip = cfg.slippage_bps / 10_000.0
    states: dict[str, SymState] = {}
    for r, s in enumerate(sym):
        states.setdefault(s, SymState(rows=[])).rows.append(r)
    names = sorted(states)
    atr_prev: dict[int, float | None] = {}  # row -> the symbol's ATR on the bar before
    if cfg.trailing_atr is not None:
        for st in states.values():
            rs = st.rows
            values = wilder_atr(
                [h[r] for r in rs], [lo[r] for r in rs], [c[r] for r in rs],
                cfg.trailing_atr.get("period", 14),
            )  # fmt: skip
            for j, r in enumerate(rs):
                atr_prev[r] = values[j - 1] if j > 0 else None
    grid = sorted(set(ts))
    cash = capital  # the posted balance
    accrued = 0.0  # carry charged but not yet posted to cash
    out = Result()

    def post() -> None:
        nonlocal cash, accrued
        cash -= accrued
        accrued = 0.0

    def charge_carry(k: int) -> None:
        """Carry for the interval from timestamp k-1's close to k, on k-1's account."""
        nonlocal accrued
        years = (grid[k] - grid[k - 1]) / YEAR_US
        cost = cfg.cash_interest_rate * max(-cash, 0.0)
        for name in names:
            p = states[name].pos
            if p is not None:
                value = p.units * states[name].last_close
                cost += cfg.funding_rate * p.side * value
                if p.side < 0:
                    cost += cfg.borrow_rate * value
        accrued += years * cost
        out.carry_paid += years * cost
        if month(grid[k]) != month(grid[k - 1]):
            post()

    def desired(st: SymState, i: int) -> int:
        """Position wanted after the fill on the symbol's i-th bar."""
        rows = st.rows
        if cfg.fill == "next_open":
            return sig[rows[i - 1]] if i > 0 else 0
        d = sig[rows[i]]
        if i == len(rows) - 1 and d != 0:  # never open on the last close
            return sig[rows[i - 1]] if i > 0 else 0
        return d

    def close_pos(st: SymState, raw: float, row: int, reason: str) -> None:
        nonlocal cash
        p = st.pos
        assert p is not None
        post()
        price = raw * (1 - p.side * slip)
        fee = p.units * price * cfg.commission + cfg.commission_fixed
        if p.side > 0:
            cash += p.units * price - fee
        else:
            cash -= p.units * price + fee
        fees = p.fee_in + fee
        pnl = p.side * p.units * (price - p.entry_price) - fees
        out.trades.append(
            {
                "symbol": sym[row],
                "side": "long" if p.side > 0 else "short",
                "entry_row": p.entry_row,
                "exit_row": row,
                "entry_price": p.entry_price,
                "exit_price": price,
                "units": p.units,
                "fees": fees,
                "pnl": pnl,
                "exit_reason": reason,
            }
        )
        st.pos = None

    def levels(p: Pos, row: int) -> tuple[float | None, float | None, bool]:
        """(stop level, target level, whether the stop is the trailing one)."""
        sl = tp = None
        trailing = False
        if cfg.stop_loss is not None:
            sl = p.entry_price * (1 - p.side * cfg.stop_loss)
        best = max(p.best, p.entry_price) if p.side > 0 else min(p.best, p.entry_price)
        trail = None
        if cfg.trailing_stop is not None:
            trail = best * (1 - p.side * cfg.trailing_stop)
        elif cfg.trailing_atr is not None and atr_prev[row] is not None:
            trail = best - p.side * cfg.trailing_atr.get("multiple", 3.0) * atr_prev[row]
        if trail is not None and (sl is None or p.side * (trail - sl) > 0):
            sl, trailing = trail, True
        if cfg.take_profit is not None:
            tp = p.entry_price * (1 + p.side * cfg.take_profit)
        return sl, tp, trailing

    def stop_check(st: SymState, row: int, at_open: bool) -> None:
        """at_open: only gaps (open beyond a level); else the bar's range."""
        p = st.pos
        if p is None:
            return
        sl, tp, trailing = levels(p, row)
        stop = "trailing_stop" if trailing else "stop_loss"
        entry_bar = cfg.fill == "next_open" and p.entry_row == row
        sl_hit = sl is not None and (lo[row] <= sl if p.side > 0 else h[row] >= sl)
        tp_hit = tp is not None and (h[row] >= tp if p.side > 0 else lo[row] <= tp)
        if not (sl_hit or tp_hit):
            return
        level = sl if sl_hit else tp
        assert level is not None
        gapped = p.side * (o[row] - level) <= 0 if sl_hit else p.side * (o[row] - level) >= 0
        gapped = gapped and not entry_bar
        if at_open and gapped:
            close_pos(st, o[row], row, stop if sl_hit else "take_profit")
        elif not at_open and not gapped:
            close_pos(st, level, row, stop if sl_hit else "take_profit")

    def enter(entries: list[tuple[SymState, int, int, float]], marks: dict[str, float]) -> None:
        nonlocal cash
        equity = cash - accrued
        used = 0.0  # gross value of the open positions
        for name in names:
            p = states[name].pos
            if p is not None:
                equity += p.side * p.units * marks[name]
                used += p.units * marks[name]
        free = equity - cfg.margin_initial * used
        for st, side, row, raw in entries:
            price = raw * (1 + side * slip)
            if free <= 1e-9 * abs(equity):  # margin used up (to rounding)
                free = 0.0
            u = min(
                (size * equity - cfg.commission_fixed) / (price * (1 + cfg.commission)),
                (free - cfg.commission_fixed) / (price * (cfg.margin_initial + cfg.commission)),
            )
            if cfg.max_volume_share is not None:
                u = min(u, cfg.max_volume_share * vol[row])
            if cfg.units == "integer" and math.isfinite(u):
                u = float(math.floor(u))
            if not (u > 0 and math.isfinite(u)):
                continue
            post()
            fee = u * price * cfg.commission + cfg.commission_fixed
            free -= cfg.margin_initial * u * price + fee
            if side > 0:
                cash -= u * price + fee
            else:
                cash += u * price - fee
            st.pos = Pos(side, u, price, row, ts[row], fee, price)

    def place_order(st: SymState, side: int, ref_row: int, first: int) -> None:
        below = side * (1 if cfg.entry_order == "limit" else -1) > 0
        level = c[ref_row] * (1 - cfg.entry_offset if below else 1 + cfg.entry_offset)
        given = order_levels[0] if side > 0 else order_levels[1]
        if given is not None:
            level = float(given[ref_row]) if given[ref_row] > 0 else math.nan
        st.order = (side, level, below, first, first + cfg.entry_valid_bars - 1)

    def mark_to_close() -> tuple[float, float]:
        """(equity, gross position value) at the last closes."""
        equity, gross = cash - accrued, 0.0
        for name in names:
            p = states[name].pos
            if p is not None:
                equity += p.side * p.units * states[name].last_close
                gross += p.units * states[name].last_close
        return equity, gross

    def liquidate(reason: str) -> None:
        for name in names:
            st = states[name]
            if st.pos is not None:
                close_pos(st, st.last_close, st.rows[st.cursor - 1], reason)

    for k, t in enumerate(grid):
        if k > 0:
            charge_carry(k)
        if out.ruin_t is not None:
            out.equity.append(cash - accrued)
            out.in_market.append(False)
            continue
        open_at_start = any(states[n].pos is not None for n in names)
        entries_before = sum(1 for _ in out.trades) + sum(
            1 for n in names if states[n].pos is not None
        )
        here: dict[str, tuple[int, int]] = {}  # name -> (i, row) for symbols with a bar at t
        for name in names:
            st = states[name]
            if st.cursor < len(st.rows) and ts[st.rows[st.cursor]] == t:
                here[name] = (st.cursor, st.rows[st.cursor])
        changes: dict[str, int] = {}
        for name, (i, _row) in here.items():
            st = states[name]
            d = desired(st, i)
            if d != st.prev_d:
                changes[name] = d
            st.prev_d = d
        # phase 0: exits at the open (signal exits for next-open fills, gapped stops)
        for name, (_i, row) in here.items():
            st = states[name]
            if cfg.fill == "next_open" and name in changes:
                if st.pos is not None:
                    close_pos(st, o[row], row, "signal")
            else:
                stop_check(st, row, at_open=True)
        # phase 1: entries at the open (or limit/stop orders placed)
        if cfg.fill == "next_open" and cfg.entry_order != "market":
            for name, (i, _row) in here.items():
                if name in changes:
                    st = states[name]
                    st.order = None
                    if changes[name] != 0:
                        place_order(st, changes[name], st.rows[i - 1], i)
        elif cfg.fill == "next_open":
            marks = {n: states[n].last_close for n in names}
            for name, (_i, row) in here.items():
                marks[name] = o[row]
            entries = [
                (states[n], changes[n], here[n][1], o[here[n][1]])
                for n in names
                if n in changes and changes[n] != 0
            ]
            if entries:
                enter(entries, marks)
        # phase 2: intrabar stops
        for name, (_i, row) in here.items():
            st = states[name]
            # a position entered at this open is checked on its entry bar too
            stop_check(st, row, at_open=False)
            p = st.pos
            if p is not None:  # the trailing stop's best price, for the next bars
                p.best = max(p.best, h[row]) if p.side > 0 else min(p.best, lo[row])
        # phase 2b: limit/stop entry orders (positions they open are checked from the next bar)
        order_entries = []
        for name in names:
            st = states[name]
            if name not in here or st.order is None:
                continue
            i, row = here[name]
            side, level, below, first, last_i = st.order
            if i < first:
                continue
            if below and lo[row] <= level:
                order_entries.append((st, side, row, min(o[row], level)))
                st.order = None
            elif not below and h[row] >= level:
                order_entries.append((st, side, row, max(o[row], level)))
                st.order = None
            elif i >= last_i:
                st.order = None
        if order_entries:
            marks = {n: states[n].last_close for n in names}
            for name, (_i, row) in here.items():
                marks[name] = o[row]
            enter(order_entries, marks)
        # phase 3: exits at the close (signal exits for close fills, end of data)
        for name, (i, row) in here.items():
            st = states[name]
            st.last_close = c[row]
            last = i == len(st.rows) - 1
            if cfg.fill == "close" and name in changes and st.pos is not None:
                close_pos(st, c[row], row, "signal")
            elif last and st.pos is not None:
                close_pos(st, c[row], row, "end_of_data")
        # phase 4: entries at the close (or limit/stop orders placed)
        if cfg.fill == "close" and cfg.entry_order != "market":
            for name, (i, row) in here.items():
                if name in changes:
                    st = states[name]
                    st.order = None
                    if changes[name] != 0:
                        place_order(st, changes[name], row, i + 1)
        elif cfg.fill == "close":
            marks = {n: states[n].last_close for n in names}
            entries = [
                (states[n], changes[n], here[n][1], c[here[n][1]])
                for n in names
                if n in changes and changes[n] != 0
            ]
            if entries:
                enter(entries, marks)
        for name in here:
            states[name].cursor += 1
        # after every fill of t: ruin (equity <= 0), else a margin call
        equity, gross = mark_to_close()
        maintenance = cfg.margin_maintenance
        if equity > 0 and maintenance is not None and equity < maintenance * gross:
            liquidate("margin_call")
            out.margin_calls += 1
            equity, gross = mark_to_close()
        if equity <= 0:
            liquidate("ruin")
            out.ruin_t = k
            equity, gross = mark_to_close()
        out.equity.append(equity)
        entries_after = len(out.trades) + sum(1 for n in names if states[n].pos is not None)
        out.in_market.append(open_at_start or entries_after > entries_before)
    return out
