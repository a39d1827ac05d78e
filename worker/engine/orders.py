"""Limit and stop entries: an entry that fills only if a later bar reaches its level.

With ``entry_order`` ``limit`` or ``stop`` a target change does not trade at the market;
it places an order at ``level = reference · (1 ∓ entry_offset)`` where ``reference`` is
the close of the bar the signal was computed on. A long limit (and a short stop) waits
below the reference: it fills on the first bar whose low reaches the level, at the level,
or at the bar's open when the open is already below it (a gap fills at the better open).
A long stop (and a short limit) waits above, on the high, at ``max(open, level)``.

A ``rules`` strategy may give the level itself (``entry_long_level``,
``entry_short_level``: number expressions, see :meth:`Strategy.entry_levels`): the value of
the expression at the signal bar replaces ``reference · (1 ∓ entry_offset)`` for that side.
A missing or non-positive value places no order. The fill test is the same: a long limit
(short stop) fills on the low, a long stop (short limit) on the high, so a level already
beyond the next open fills at that open.

The order is live for ``entry_valid_bars`` bars of its symbol, from the bar after the
signal bar (next-open fills: the bar a market order would fill at; close fills: the bar
after the close it would fill at), and is cancelled when the target changes first (for
next-open fills from the bar whose open trades that change; for close fills after the
bar whose close does) or at the symbol's last bar. An order that never fills leaves the
segment flat: a still-wanted position does not enter later.
"""

from __future__ import annotations

import numpy as np

from worker.engine.market import F64, I8, I64, B, MarketData
from worker.engine.params import RunConfig

#: Per row, the level of a long and of a short entry order placed on that row's close
#: (NaN: none); None for a side means the config's offset rule.
EntryLevels = tuple[F64 | None, F64 | None]


def _levels(ref_row: I64, ref: F64, side: I8, below: B, offset: float, given: EntryLevels) -> F64:
    level = ref * np.where(below, 1.0 - offset, 1.0 + offset)
    for wanted, rows in ((1, given[0]), (-1, given[1])):
        if rows is not None:
            mine = side == wanted
            chosen = rows[ref_row[mine]]
            level[mine] = np.where(chosen > 0, chosen, np.nan)
    return level


def order_fills(
    md: MarketData,
    cfg: RunConfig,
    side: I8,
    a: I64,
    exit_row: I64,
    eod: B,
    next_open: bool,
    levels: EntryLevels = (None, None),
) -> tuple[I64, I64, F64]:
    """For the legs whose order fills: (leg index, fill row, raw fill price before
    slippage). ``a``: each leg's change row, ``exit_row``/``eod`` as in build_legs."""
    ref_row = a - 1 if next_open else a
    start = a if next_open else a + 1
    last = exit_row - 1 if next_open else exit_row
    if next_open:
        last = np.where(eod, exit_row, last)
    end = np.minimum(start + (cfg.entry_valid_bars - 1), last)
    lengths = np.maximum(end - start + 1, 0)
    below = side * (1 if cfg.entry_order == "limit" else -1) > 0  # fills on the low
    level = _levels(ref_row, md.close[ref_row], side, below, cfg.entry_offset, levels)
    total = int(lengths.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    seg = np.repeat(np.arange(a.shape[0]), lengths)
    offsets = np.cumsum(lengths) - lengths
    rows = np.arange(total) - offsets[seg] + start[seg]
    lv = level[seg]
    hit = np.where(below[seg], md.low[rows] <= lv, md.high[rows] >= lv)
    hits = np.flatnonzero(hit)
    first = np.ones(hits.shape[0], dtype=np.bool_)
    first[1:] = seg[hits[1:]] != seg[hits[:-1]]
    hits = hits[first]
    legs, row = seg[hits], rows[hits]
    opn = md.open[row]
    price = np.where(below[legs], np.minimum(opn, lv[hits]), np.maximum(opn, lv[hits]))
    return legs.astype(np.int64), row.astype(np.int64), price
