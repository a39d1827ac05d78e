"""From target positions to trade legs: fills, slippage, stop-loss and take-profit.

Everything here is vectorised over rows; no sizing yet (that needs cash: portfolio.py).

Timing: with ``fill="next_open"`` the target computed on row t's close is traded at row
t+1's open; with ``fill="close"`` at row t's close. A *segment* is a maximal run of rows
with the same non-zero desired position; it becomes one trade leg, entered at its first
row and left at the next change (signal), at a stop/target hit, or at the symbol's last
close (end of data). Stops are checked on every bar the position is open after entry:
for next-open fills that includes the entry bar (entry happens at its open).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from worker.engine import indicators as ind
from worker.engine.leg_kernels import change_rows
from worker.engine.market import F64, I8, I64, MarketData
from worker.engine.orders import EntryLevels, order_fills
from worker.engine.params import RunConfig

SIGNAL, STOP_LOSS, TAKE_PROFIT, END_OF_DATA, MARGIN_CALL, RUIN, TRAILING_STOP = range(7)
EXIT_REASONS = (
    "signal",
    "stop_loss",
    "take_profit",
    "end_of_data",
    "margin_call",
    "ruin",
    "trailing_stop",
)
# Order of fills inside one timestamp: exits at the open, entries at the open, intrabar
# stops, limit/stop entry orders (orders.py), exits at the close, entries at the close,
# liquidation (margin call or ruin, after the bar-close equity is known: liquidation.py).
OPEN_EXIT, OPEN_ENTRY, INTRABAR, ORDER_ENTRY, CLOSE_EXIT, CLOSE_ENTRY, LIQUIDATION = range(7)


@dataclass(frozen=True, eq=False)
class Legs:
    """Candidate trades, sorted by symbol then entry row (unsized)."""

    sym: I64
    side: I8
    entry_row: I64
    exit_row: I64
    exit_t: I64  # timeline index of the exit (a liquidation can fall between a symbol's bars)
    entry_price: F64  # after slippage
    exit_price: F64  # after slippage
    reason: I8
    entry_phase: I8
    exit_phase: I8

    @property
    def count(self) -> int:
        return int(self.sym.shape[0])


def desired_positions(md: MarketData, signal: I8, cfg: RunConfig) -> I8:
    """Per row, the position wanted right after that row's fill."""
    s = np.maximum(signal, 0).astype(np.int8) if cfg.direction == "long_only" else signal
    first = md.block_first()
    if cfg.fill == "next_open":
        d = np.empty_like(s)
        d[0] = 0
        d[1:] = s[:-1]
        d[first] = 0
        return d
    d = s.copy()
    # never open on a symbol's last close (the trade would close at that same price)
    last = md.ends - 1
    prev = np.where(md.ends - md.starts > 1, d[np.maximum(last - 1, 0)], 0).astype(np.int8)
    d[last] = np.where(d[last] != 0, prev, 0)
    return d


def build_legs(
    md: MarketData, signal: I8, cfg: RunConfig, levels: EntryLevels = (None, None)
) -> Legs:
    """``levels``: the strategy's own entry-order levels (orders.py), if it has any."""
    d = desired_positions(md, signal, cfg)
    n = md.n
    cp = np.empty(n, dtype=np.int64)
    cp = cp[: change_rows(d, md.starts, cp)]
    is_pos = d[cp] != 0
    k = np.flatnonzero(is_pos)
    a = cp[k]
    nxt = np.append(cp, n)[k + 1]
    sym = md.sym_of(a)
    block_last = md.ends[sym] - 1
    eod = nxt > block_last
    exit_row = np.where(eod, block_last, nxt)
    side = d[a]
    next_open = cfg.fill == "next_open"
    entry_raw = (md.open if next_open else md.close)[a]
    exit_raw = np.where(eod, md.close[exit_row], (md.open if next_open else md.close)[exit_row])
    reason = np.where(eod, END_OF_DATA, SIGNAL).astype(np.int8)
    exit_phase = np.where(eod, CLOSE_EXIT, OPEN_EXIT if next_open else CLOSE_EXIT).astype(np.int8)
    entry_phase = np.full(a.shape[0], OPEN_ENTRY if next_open else CLOSE_ENTRY, dtype=np.int8)
    c0 = a if next_open else a + 1
    c1 = exit_row - (next_open & ~eod)
    if cfg.entry_order != "market":
        # an order fills within its bar: stops are checked from the next bar on
        k, a, entry_raw = order_fills(md, cfg, side, a, exit_row, eod, next_open, levels)
        sym, side, exit_row, exit_raw = sym[k], side[k], exit_row[k], exit_raw[k]
        reason, exit_phase, c1 = reason[k], exit_phase[k], c1[k]
        entry_phase = np.full(k.shape[0], ORDER_ENTRY, dtype=np.int8)
        c0 = a + 1
    slip = cfg.slippage
    entry_price = entry_raw * (1.0 + side * slip)
    if cfg.stop_loss is not None or cfg.take_profit is not None or _trails(cfg):
        hit = _first_stop_hits(md, cfg, side, entry_price, a, c0, c1, next_open)
        if hit is not None:
            seg, row, price, why, phase = hit
            exit_row[seg] = row
            exit_raw[seg] = price
            reason[seg] = why
            exit_phase[seg] = phase
    exit_price = exit_raw * (1.0 - side * slip)
    return Legs(
        sym=sym,
        side=side,
        entry_row=a,
        exit_row=exit_row,
        exit_t=exit_row if md.n_symbols == 1 else md.t_idx[exit_row],
        entry_price=entry_price,
        exit_price=exit_price,
        reason=reason,
        entry_phase=entry_phase,
        exit_phase=exit_phase,
    )


def _first_stop_hits(
    md: MarketData,
    cfg: RunConfig,
    side: I8,
    entry_price: F64,
    entry_row: I64,
    c0: I64,
    c1: I64,
    next_open: bool,
) -> tuple[I64, I64, F64, I8, I8] | None:
    """First bar per segment in [c0, c1] where the stop or target trades.

    Levels are fractions from the entry fill price (after slippage). A level fills at the
    level, or at the bar's open if the open is already beyond it (gap); on the entry bar of
    a next-open fill the open *is* the entry, so it fills at the level. Stop beats target
    when one bar reaches both. A trailing stop is a stop-loss whose level follows the best
    price since entry (``_trailing_levels``); of the two stops the tighter one trades.
    """
    lengths = np.maximum(c1 - c0 + 1, 0)
    total = int(lengths.sum())
    if total == 0:
        return None
    seg = np.repeat(np.arange(c0.shape[0]), lengths)
    offsets = np.cumsum(lengths) - lengths
    rows = np.arange(total) - offsets[seg] + c0[seg]
    sd = side[seg].astype(np.float64)
    low, high = md.low[rows], md.high[rows]
    sl_hit = np.zeros(total, dtype=np.bool_)
    tp_hit = np.zeros(total, dtype=np.bool_)
    sl_lvl = tp_lvl = None
    if cfg.stop_loss is not None:
        sl_lvl = entry_price[seg] * (1.0 - sd * cfg.stop_loss)
        sl_hit = np.where(sd > 0, low <= sl_lvl, high >= sl_lvl)
    trailing = np.zeros(total, dtype=np.bool_)
    if _trails(cfg):
        tr_lvl = _trailing_levels(md, cfg, seg, rows, sd, entry_price)
        tr_hit = np.where(sd > 0, low <= tr_lvl, high >= tr_lvl)
        trailing = tr_hit if sl_lvl is None else tr_hit & (~sl_hit | (sd * (tr_lvl - sl_lvl) > 0))
        sl_lvl = tr_lvl if sl_lvl is None else np.where(trailing, tr_lvl, sl_lvl)
        sl_hit = sl_hit | tr_hit
    if cfg.take_profit is not None:
        tp_lvl = entry_price[seg] * (1.0 + sd * cfg.take_profit)
        tp_hit = np.where(sd > 0, high >= tp_lvl, low <= tp_lvl)
    hits = np.flatnonzero(sl_hit | tp_hit)
    if hits.shape[0] == 0:
        return None
    hit_seg = seg[hits]
    keep = np.ones(hits.shape[0], dtype=np.bool_)
    keep[1:] = hit_seg[1:] != hit_seg[:-1]
    hits = hits[keep]
    s = seg[hits]
    row = rows[hits]
    is_sl = sl_hit[hits]
    level = np.where(is_sl, sl_lvl[hits] if sl_lvl is not None else 0.0, 0.0)
    if tp_lvl is not None:
        level = np.where(is_sl, level, tp_lvl[hits])
    opn = md.open[row]
    direction = sd[hits]
    gapped = np.where(is_sl, direction * (opn - level) <= 0, direction * (opn - level) >= 0)
    if next_open:
        gapped &= row != entry_row[s]
    price = np.where(gapped, opn, level)
    why = np.where(is_sl, np.where(trailing[hits], TRAILING_STOP, STOP_LOSS), TAKE_PROFIT)
    why = why.astype(np.int8)
    phase = np.where(gapped, OPEN_EXIT, INTRABAR).astype(np.int8)
    return s, row, price, why, phase


def _trails(cfg: RunConfig) -> bool:
    return cfg.trailing_stop is not None or cfg.trailing_atr is not None


def _trailing_levels(
    md: MarketData, cfg: RunConfig, seg: I64, rows: I64, sd: F64, entry_price: F64
) -> F64:
    """Per checked row, the trailing stop's level: ``trailing_stop`` (a fraction) or
    ``trailing_atr.multiple`` ATRs of the previous bar below the best price, the highest
    high (long) or above the lowest low (short) of the position's bars *before* this one
    and its entry fill price (the bar's own high or low may come after its low or high).
    NaN (no level) while the ATR warms up."""
    long = sd > 0
    best = np.where(long, md.high[rows], -md.low[rows])  # signed: larger is better
    prev = np.empty_like(best)
    prev[0] = -np.inf
    prev[1:] = best[:-1]
    prev[np.flatnonzero(np.diff(seg)) + 1] = -np.inf
    run = pl.DataFrame({"s": seg, "v": prev}).select(pl.col("v").cum_max().over("s"))
    ep = entry_price[seg]
    peak = np.maximum(run.to_series().to_numpy(), np.where(long, ep, -ep))
    best = np.where(long, peak, -peak)
    if cfg.trailing_stop is not None:
        out: F64 = best * (1.0 - sd * cfg.trailing_stop)
        return out
    assert cfg.trailing_atr is not None
    atr_prev = ind.shift(md, ind.atr(md, cfg.trailing_atr.period))[rows]
    out = best - sd * cfg.trailing_atr.multiple * atr_prev
    return out
