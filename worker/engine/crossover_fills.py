"""A single run's sized fills for the grid's common case (``grid_fast.applies``: the SMA
crossover on one symbol, market entries, no stops, carry, volume cap or maintenance
margin), from the grid's compiled legs: the signal, desired positions and legs in one pass
over the running sum (``grid_kernel.crossover_legs``), then priced and sized per leg
(``grid_kernel.sized_legs``), instead of the signal array, ``execution.build_legs`` and
``portfolio.size_single``. The same legs and fills, bit for bit
(tests/engine/test_crossover_fills.py); ``simulate`` takes them from there.
"""

from __future__ import annotations

import numpy as np

from worker.engine import indicators as ind
from worker.engine.execution import (
    CLOSE_ENTRY,
    CLOSE_EXIT,
    END_OF_DATA,
    OPEN_ENTRY,
    OPEN_EXIT,
    SIGNAL,
    Legs,
)
from worker.engine.grid_fast import applies, sized_crossover_legs
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.portfolio import Fills
from worker.engine.strategies import Strategy
from worker.engine.strategies.crossover import SmaCrossover


def crossover_fills(
    md: MarketData, strategy: Strategy, cfg: RunConfig, *, capital: float, size: float
) -> Fills | None:
    """The fills ``simulate`` would size from ``strategy.signal(md)``, or None where the
    compiled path does not apply."""
    if not applies(md, cfg, strategy):
        return None
    assert isinstance(strategy, SmaCrossover)
    next_open = cfg.fill == "next_open"
    close = np.ascontiguousarray(md.close)
    # close fills never read the opens: MarketData then does not convert and check them
    open_ = np.ascontiguousarray(md.open) if next_open else close
    sized = sized_crossover_legs(
        strategy, cfg, close, open_, ind.running_sum(md), capital=capital, size=size
    )
    entry, exit_, side, eod = sized.entry, sized.exit_, sized.side, sized.eod
    m = entry.shape[0]
    legs = Legs(
        sym=np.zeros(m, dtype=np.int64),
        side=side,
        entry_row=entry,
        exit_row=exit_,
        exit_t=exit_,
        entry_price=sized.entry_price,
        exit_price=sized.exit_price,
        reason=np.where(eod, END_OF_DATA, SIGNAL).astype(np.int8),
        entry_phase=np.full(m, OPEN_ENTRY if next_open else CLOSE_ENTRY, dtype=np.int8),
        exit_phase=np.where(eod, CLOSE_EXIT, OPEN_EXIT if next_open else CLOSE_EXIT).astype(
            np.int8
        ),
    )
    ev_t = np.empty(2 * m, dtype=np.int64)
    ev_t[0::2], ev_t[1::2] = entry, exit_
    ev_cash = np.empty(2 * m)
    ev_cash[0::2], ev_cash[1::2] = sized.cash_in, sized.cash_out
    return Fills(legs, sized.units, sized.fees, ev_t, ev_cash)
