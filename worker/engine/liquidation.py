"""Margin calls and ruin: liquidations decided on bar-close equity.

After sizing, the equity curve is checked bar close by bar close. The first bar t where
equity <= 0 ruins the run; the first where equity < ``margin_maintenance`` x gross position
value (Σ |units| x close) is a margin call. Either way every open position is closed at
t's close (its symbol's last close; slippage and commission apply), after all of t's other
fills, in symbol order (all at the same marks, so the order changes no number). After a
margin call trading goes on: a cut position stays flat until its target changes, as after
a stop. After ruin nothing trades again. A liquidation changes every later fill, so the
legs are cut, sized again and the curve rebuilt, and the check resumes at t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from worker.engine.drawdowns import drawdown_curve, max_drawdown_duration
from worker.engine.execution import LIQUIDATION, MARGIN_CALL, RUIN, Legs
from worker.engine.market import F64, MarketData
from worker.engine.metrics import Metric
from worker.engine.params import RunConfig
from worker.engine.portfolio import Curve, Fills, equity_curve
from worker.engine.return_metrics import finite

Sizer = Callable[[Legs], Fills]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, eq=False)
class Liquidated:
    fills: Fills
    curve: Curve
    ruin_t: int | None  # timeline index of the bar whose close ruined the run
    margin_calls: int


def can_breach(min_equity: float, cfg: RunConfig) -> bool:
    """Whether a curve whose lowest bar-close equity is ``min_equity`` may need a
    liquidation (without margin_maintenance only ruin can)."""
    return cfg.margin_maintenance is not None or not min_equity > 0


def liquidate(
    md: MarketData, fills: Fills, curve: Curve, cfg: RunConfig, capital: float, size: Sizer
) -> Liquidated:
    """Apply every margin call and the ruin, if any, to sized ``fills`` and their
    ``curve`` (module doc)."""
    after = 0
    for calls in range(fills.legs.count + 1):  # each margin call closes at least one leg
        hit = _first_breach(curve, cfg.margin_maintenance, after)
        if hit is None:
            return Liquidated(fills, curve, None, calls)
        t, ruin = hit
        fills = size(_cut(md, fills, t, ruin, cfg.slippage))
        curve = equity_curve(md, fills, capital)
        if ruin:
            return Liquidated(fills, curve, t, calls)
        after = t  # the liquidation's costs may still leave equity <= 0 at t
    raise AssertionError("margin calls did not settle")  # pragma: no cover


def _first_breach(curve: Curve, maintenance: float | None, after: int) -> tuple[int, bool] | None:
    equity = curve.equity[after:]
    bad = equity <= 0
    if maintenance is not None:
        bad |= equity < maintenance * curve.gross_value[after:]
    hits = np.flatnonzero(bad)
    if hits.shape[0] == 0:
        return None
    t = after + int(hits[0])
    return t, bool(curve.equity[t] <= 0)


def _cut(md: MarketData, fills: Fills, t: int, ruin: bool, slippage: float) -> Legs:
    """The legs with every position open at t's close closed there; on ruin, without the
    legs that would enter later."""
    legs = fills.legs
    entry_t = legs.entry_row if md.n_symbols == 1 else md.t_idx[legs.entry_row]
    open_at = (fills.units > 0) & (entry_t <= t) & (legs.exit_t > t)
    k = np.flatnonzero(open_at)
    sym = legs.sym[k]
    exit_row = legs.exit_row.copy()
    exit_t = legs.exit_t.copy()
    exit_price = legs.exit_price.copy()
    reason = legs.reason.copy()
    exit_phase = legs.exit_phase.copy()
    if md.n_symbols == 1:
        row = np.full(k.shape[0], t, dtype=np.int64)
        mark: F64 = md.close[row]
    else:
        # the symbol's last bar at or before t: rows are sorted by (symbol, time)
        key = md.sym * md.n_times + md.t_idx
        row = np.searchsorted(key, sym * md.n_times + t, side="right").astype(np.int64) - 1
        mark = md.marks[0][t, sym]
    exit_row[k] = row
    exit_t[k] = t
    exit_price[k] = mark * (1.0 - legs.side[k] * slippage)
    reason[k] = RUIN if ruin else MARGIN_CALL
    exit_phase[k] = LIQUIDATION
    cut = replace(
        legs,
        exit_row=exit_row,
        exit_t=exit_t,
        exit_price=exit_price,
        reason=reason,
        exit_phase=exit_phase,
    )
    if not ruin:
        return cut
    keep = entry_t <= t
    return Legs(
        sym=cut.sym[keep],
        side=cut.side[keep],
        entry_row=cut.entry_row[keep],
        exit_row=cut.exit_row[keep],
        exit_t=cut.exit_t[keep],
        entry_price=cut.entry_price[keep],
        exit_price=cut.exit_price[keep],
        reason=cut.reason[keep],
        entry_phase=cut.entry_phase[keep],
        exit_phase=cut.exit_phase[keep],
    )


def wiped_path(equity: F64, ruin_t: int) -> F64:
    """The wealth path the return metrics of a ruined run use: the curve up to the ruin
    bar, whose equity counts as 0 (the account is wiped out; what it owes beyond that is
    in ``final_value``). Later bars have no return."""
    out: F64 = equity[: ruin_t + 1].copy()
    out[ruin_t] = 0.0
    return out


def account_metrics(
    md: MarketData, equity: F64 | None, capital: float, ruin_t: int | None, margin_calls: int
) -> dict[str, Metric]:
    """``ruined``, ``ruin_bar``, ``ruin_time``, ``margin_calls``; for a ruined run also the
    whole-timeline values the wiped path cannot give (``final_value``, ``total_return``,
    ``bars``, ``max_drawdown_duration_bars``)."""
    out: dict[str, Metric] = {
        "ruined": ruin_t is not None,
        "ruin_bar": None,
        "ruin_time": None,
        "margin_calls": margin_calls,
    }
    if ruin_t is None or equity is None:
        return out
    final = float(equity[-1])
    floored = np.maximum(equity, 0.0)
    floored[ruin_t:] = 0.0
    out.update(
        ruin_bar=ruin_t + 1,
        ruin_time=(EPOCH + timedelta(microseconds=int(md.grid_ts[ruin_t]))).isoformat(),
        final_value=finite(final),
        total_return=finite(final / capital - 1.0),
        bars=int(equity.shape[0]),
        max_drawdown_duration_bars=max_drawdown_duration(drawdown_curve(floored, capital)),
    )
    return out
