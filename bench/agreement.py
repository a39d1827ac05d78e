"""Does vectorbt do the same work as this engine on bench/engine.py's workload?

A speed ratio is a figure only when both engines made the same trades: the same entry and
exit bars and sides, the same units (to rounding) and the same final equity. The workers
send their trades as row indices; ``check_single`` and ``check_grid`` compare them.

Why the two once disagreed (39,156 trades against 11,574 on 1M bars): the call gave
vectorbt the same crosses, but at 0.1 % commission 39,156 trades take the account to
1e-31, and from about trade 11,550 (equity near 1e-6, 5e-9 units) vectorbt no longer
fills orders that small while this engine keeps trading fractions of nothing; and an
open position at the end is closed by this engine (``end_of_data``, with its fee) but
left open by vectorbt. The workload now uses a commission that keeps the account
tradeable and closes the last position in vectorbt too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Relative tolerance for units and equity: both compute the same products in another order.
RTOL = 1e-9


def vbt_portfolio(vbt: Any, close: Any, fast: Any, slow: Any, commission: float) -> Any:
    """This engine's SMA crossover in vectorbt: strict crosses enter (and reverse), every
    position still open is closed at the last bar's close, the same commission."""
    up, dn = fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)
    up.iloc[-1], dn.iloc[-1] = False, False
    last = close.astype(bool) & False  # a column, broadcast over a grid's columns
    last.iloc[-1] = True
    return vbt.Portfolio.from_signals(
        close,
        entries=up,
        exits=last,
        short_entries=dn,
        short_exits=last,
        fees=commission,
        init_cash=10_000,
        freq="1min",
    )


def engine_trades(result: Any) -> dict[str, Any]:
    """A ``BacktestResult``'s trades as timeline rows (JSON-ready)."""
    ts = result.equity["timestamp"].to_physical().to_numpy()
    trades = result.trades
    return {
        "entry": np.searchsorted(ts, trades["entry_time"].to_physical().to_numpy()).tolist(),
        "exit": np.searchsorted(ts, trades["exit_time"].to_physical().to_numpy()).tolist(),
        "short": (trades["side"] == "short").to_list(),
        "units": trades["units"].to_list(),
        "final": float(result.metrics["final_value"]),
    }


def vbt_trades(portfolio: Any) -> dict[str, Any]:
    """A vectorbt ``Portfolio``'s (one column) trades in the same shape."""
    rec = portfolio.trades.records
    return {
        "entry": rec["entry_idx"].tolist(),
        "exit": rec["exit_idx"].tolist(),
        "short": (rec["direction"] == 1).tolist(),
        "units": rec["size"].tolist(),
        "final": float(portfolio.value().iloc[-1]),
    }


@dataclass(frozen=True)
class Agreement:
    same: bool
    text: str


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def check_single(ours: dict[str, Any], theirs: dict[str, Any]) -> Agreement:
    n, m = len(ours["entry"]), len(theirs["entry"])
    if n != m:
        first = next(
            (
                i
                for i, (a, b) in enumerate(zip(ours["entry"], theirs["entry"], strict=False))
                if a != b
            ),
            min(n, m),
        )
        return Agreement(False, f"trades differ: {n:,} against {m:,}, first at trade {first:,}")
    for key in ("entry", "exit", "short"):
        if ours[key] != theirs[key]:
            i = next(
                i for i, (a, b) in enumerate(zip(ours[key], theirs[key], strict=True)) if a != b
            )
            return Agreement(False, f"trade {i:,} differs in {key}")
    units = max(
        (_rel(a, b) for a, b in zip(ours["units"], theirs["units"], strict=True)), default=0.0
    )
    final = _rel(ours["final"], theirs["final"])
    same = units <= RTOL and final <= RTOL
    text = (
        f"{n:,} trades, same entry and exit bars and sides; units agree to {units:.1e} "
        f"(relative), final equity {ours['final']:,.6f} against {theirs['final']:,.6f} "
        f"({final:.1e})"
    )
    return Agreement(same, text if same else f"NOT the same work: {text}")


def check_grid(ours: dict[str, float | None], theirs: dict[str, float]) -> Agreement:
    """Total return per combination ("fast/slow" keys) on the combinations vectorbt ran."""
    worst, missing = 0.0, []
    for key, value in theirs.items():
        mine = ours.get(key)
        if mine is None:
            missing.append(key)
            continue
        worst = max(worst, _rel(1 + mine, 1 + value))
    if missing:
        return Agreement(False, f"combinations missing from the leaderboard: {missing[:5]}")
    same = worst <= RTOL
    text = f"{len(theirs)} combinations, total return agrees to {worst:.1e} (relative, on 1 + r)"
    return Agreement(same, text if same else f"NOT the same work: {text}")


def report(results: dict[str, dict[str, Any] | None]) -> tuple[bool, bool]:
    """Print whether the single runs and the grids did the same work: (single, grid)."""
    print("\nagreement (speed is compared only on the same work)")
    es, vs = results.get("engine_single"), results.get("vbt_single")
    eg, vg = results.get("engine_grid"), results.get("vbt_grid")
    single_ok = grid_ok = False
    if es and vs:
        single = check_single(es["trade_rows"], vs["trade_rows"])
        single_ok = single.same
        print(f"  single run, engine vs vectorbt: {single.text}")
    if eg and vg:
        grid = check_grid(eg["total_returns"], vg["total_returns"])
        grid_ok = grid.same
        print(f"  grid, engine vs vectorbt: {grid.text}")
    return single_ok, grid_ok
