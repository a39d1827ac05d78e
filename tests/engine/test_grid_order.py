"""A grid's evaluation order keeps its indicator arrays few, and changes no number."""

from __future__ import annotations

from typing import Any

import pytest

from worker.engine import indicators as ind
from worker.engine.api import run_backtest
from worker.engine.grid_order import cache_budget, evaluation_order
from worker.engine.synthetic import generate_bars

BARS = generate_bars(["AAA"], 400, seed=11)
FAST, SLOW = [3, 5, 8, 13], [21, 34, 55, 89, 144, 233]


def test_order_varies_the_parameter_of_fewest_values_fastest() -> None:
    combos = [{"fast_period": f, "slow_period": s} for f in FAST for s in SLOW]
    order, inner = evaluation_order(combos)
    assert sorted(order) == list(range(len(combos)))
    assert inner == len(FAST)
    visited = [combos[i] for i in order]
    assert [c["slow_period"] for c in visited] == [s for s in SLOW for _ in FAST]
    assert [c["fast_period"] for c in visited] == FAST * len(SLOW)
    assert evaluation_order([{"slow_period": s} for s in SLOW]) == (list(range(len(SLOW))), 0)
    assert cache_budget(1000, inner, 2, 10**9) == (len(FAST) + 2 + 2) * 1000 * 8
    assert cache_budget(1000, inner, 2, 100) == 100


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("compiled", [False, True])
def test_each_moving_average_is_computed_once(
    monkeypatch: pytest.MonkeyPatch, threads: int, compiled: bool
) -> None:
    """With the budget the order needs (see ``cache_budget``), no moving average is evicted
    before its last use. A stop takes the EMA crossover's combinations through ``simulate``
    (and the cached averages); the SMA crossover's compiled path (grid_fast.py) cuts them
    from the running sum and caches none, nor does its best combination's full run
    (crossover_fills.py)."""
    computed: list[int] = []
    name = "_sma_known" if compiled else "ema_of"
    kernel = getattr(ind, name)

    def counting(md: Any, x: Any, period: int, *rest: Any) -> Any:
        computed.append(period)
        return kernel(md, x, period, *rest)

    monkeypatch.setattr(ind, name, counting)
    grid = {"fast_period": FAST, "slow_period": SLOW}
    res = run_backtest(
        BARS,
        {"kind": "sma_crossover" if compiled else "ema_crossover"},
        {"grid": grid} if compiled else {"grid": grid, "stop_loss": 0.5},
        initial_capital=10_000,
        timeframe="1d",
        threads=threads,
    )
    assert res.leaderboard is not None and res.leaderboard.height == len(FAST) * len(SLOW)
    best = res.best_params
    assert best is not None
    if compiled:
        assert computed == []
        return
    # every grid period once, then the best combination's two for its full run
    in_grid = [*FAST, *SLOW]
    assert sorted(computed) == sorted([*in_grid, best["fast_period"], best["slow_period"]])
