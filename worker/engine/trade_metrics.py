"""Metrics of the closed trades, one pure function each.

``pnl`` is each trade's profit after costs, ``trade_returns`` its pnl over its entry value
(docs/metrics.md, Trade metrics). A win is ``pnl > 0``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from worker.engine.return_metrics import SD_EPSILON, finite

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Number = float | int | None
MICROS_PER_DAY = 86_400_000_000


def trade_stats(pnl: F64, trade_returns: F64) -> dict[str, Number]:
    """Counts and averages over closed trades; a win is ``pnl > 0`` after costs."""
    n = int(pnl.shape[0])
    return trade_stats_of(
        n,
        int((pnl > 0).sum()),
        float(pnl[pnl > 0].sum()),
        float(-pnl[pnl < 0].sum()),
        float(pnl.sum()),
        float(trade_returns.sum()),
        float(trade_returns.max()) if n else None,
        float(trade_returns.min()) if n else None,
    )


def trade_stats_of(
    n: int,
    wins: int,
    gross_win: float,
    gross_loss: float,
    pnl_sum: float,
    return_sum: float,
    best: float | None,
    worst: float | None,
) -> dict[str, Number]:
    """``trade_stats`` from the trades' totals (``np.sum`` order): for callers that summed
    the trades themselves (the grid's compiled path)."""
    return {
        "total_trades": n,
        "winning_trades": wins,
        "losing_trades": n - wins,
        "win_rate": wins / n if n else None,
        "profit_factor": finite(gross_win / gross_loss) if gross_loss > 0 else None,
        "expectancy": finite(pnl_sum / n) if n else None,
        "avg_trade_return": finite(return_sum / n) if n else None,
        "best_trade_return": finite(best),
        "worst_trade_return": finite(worst),
    }


def sqn(pnl: F64) -> float | None:
    """Van Tharp's system quality number ``√n · mean(pnl) / std(pnl, ddof=1)`` (as
    backtesting.py); None with fewer than 2 trades or equal pnl."""
    n = int(pnl.shape[0])
    if n < 2:
        return None
    sd = float(np.std(pnl, ddof=1))
    if not sd > SD_EPSILON * max(1.0, float(np.abs(pnl).max())):
        return None
    return finite(math.sqrt(n) * float(pnl.mean()) / sd)


def kelly_criterion(pnl: F64) -> float | None:
    """``W - (1 - W) / R``: ``W`` the win rate, ``R`` the mean winning pnl over the mean
    losing pnl's size (backtesting.py's formula); None without a win or without a loss."""
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    if wins.shape[0] == 0 or losses.shape[0] == 0:
        return None
    win_rate = wins.shape[0] / pnl.shape[0]
    payoff = float(wins.mean()) / float(-losses.mean())
    return finite(win_rate - (1.0 - win_rate) / payoff)


class TradeSums(NamedTuple):
    """The trades' counts and the ``np.sum`` of their winning and of their losing pnl,
    from a pass that took them (``grid_kernel.trade_pass``)."""

    trades: int
    wins: int
    losses: int
    gross_win: float  # Σ pnl over pnl > 0
    gross_loss: float  # -Σ pnl over pnl < 0


def kelly_of(sums: TradeSums) -> float | None:
    """``kelly_criterion`` from the trades' sums: each mean is numpy's (its sum over its
    count), and ``-(s / n)`` is ``(-s) / n`` exactly."""
    if sums.wins == 0 or sums.losses == 0:
        return None
    win_rate = sums.wins / sums.trades
    payoff = (sums.gross_win / sums.wins) / (sums.gross_loss / sums.losses)
    return finite(win_rate - (1.0 - win_rate) / payoff)


def trade_durations(entry_us: I64, exit_us: I64, bars_held: I64) -> dict[str, Number]:
    """Holding times: mean, median, shortest and longest in days (exit time − entry time),
    and the mean in bars; None without trades."""
    if entry_us.shape[0] == 0:
        return dict.fromkeys(
            (
                "avg_trade_duration_days",
                "median_trade_duration_days",
                "min_trade_duration_days",
                "max_trade_duration_days",
                "avg_bars_held",
            )
        )
    held = exit_us - entry_us
    days = held / MICROS_PER_DAY
    return {
        "avg_trade_duration_days": finite(days.mean()),
        "median_trade_duration_days": median_days(held),
        "min_trade_duration_days": finite(days.min()),
        "max_trade_duration_days": finite(days.max()),
        "avg_bars_held": finite(bars_held.mean()),
    }


def median_days(held_us: I64) -> float | None:
    """``np.median(held_us / MICROS_PER_DAY)`` (same bits), from the one or two middle
    integers (``np.partition``) rather than a full median of the floats: the division is
    monotonic, so the middle values are the same trades', and the two middle days are
    averaged as ``np.median`` averages them (``np.mean``)."""
    n = int(held_us.shape[0])
    if n == 0:
        return None
    k = n // 2
    middle = [k] if n % 2 else [k - 1, k]
    days = np.partition(held_us, middle)[middle] / MICROS_PER_DAY
    return finite(days[0] if n % 2 else days.mean())
