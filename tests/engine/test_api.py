from __future__ import annotations

import json

import polars as pl
import pytest

from worker.engine.analysis import ANALYSIS_METRIC_NAMES
from worker.engine.api import ENGINE_VERSION, BacktestResult, run_backtest
from worker.engine.errors import EngineInputError, RunCancelled
from worker.engine.grid_stats import RUN_METRICS
from worker.engine.synthetic import generate_bars

BARS = generate_bars(["AAA", "BBB"], 500, seed=4)
SMA = {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20}
CFG = {"commission": 0.001, "slippage_bps": 2, "stop_loss": 0.05}


def run(config: dict | None = None, params: dict | None = None, **kw) -> BacktestResult:  # type: ignore[type-arg, no-untyped-def]
    return run_backtest(
        BARS, params or SMA, config or CFG, initial_capital=10_000, timeframe="1d", **kw
    )


def test_deterministic_bit_identical() -> None:
    a, b = run(), run()
    assert json.dumps(a.metrics) == json.dumps(b.metrics)
    assert a.equity.equals(b.equity)
    assert a.trades.equals(b.trades)
    assert a.engine_version == ENGINE_VERSION


def test_result_shape_and_resolved_config() -> None:
    res = run()
    assert res.trades.columns[:11] == [
        "symbol",
        "side",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "units",
        "fees",
        "pnl",
        "return",
        "exit_reason",
    ]
    assert res.equity.schema["timestamp"] == pl.Datetime("us", "UTC")
    rc = res.resolved_config
    assert rc["fill"] == "next_open" and rc["position_size"] == 0.5
    assert rc["periods_per_year"] == 252.0 and rc["symbols"] == ["AAA", "BBB"]
    assert rc["start"].startswith("2000-01-03")
    assert res.strategy == {**SMA}
    json.dumps(rc, allow_nan=False)
    assert res.leaderboard is None and res.best_params is None
    assert {"signals", "simulate", "total"} <= set(res.timings)
    m = res.metrics
    assert m["total_trades"] == m["winning_trades"] + m["losing_trades"]  # type: ignore[operator]


def test_buy_and_hold_curve_ends_at_the_buy_and_hold_return() -> None:
    late = generate_bars(["CCC"], 300, seed=9).with_columns(
        pl.col("timestamp").dt.offset_by("200d")
    )  # starts after the others: its share waits in cash
    bars = pl.concat([BARS, late])
    res = run_backtest(bars, SMA, CFG, initial_capital=10_000, timeframe="1d")
    curve = res.buy_and_hold
    assert curve is not None and curve.len() == res.equity.height
    growth = {
        s: bars.filter(pl.col("symbol") == s)["close"]
        / bars.filter(pl.col("symbol") == s)["close"][0]
        for s in ("AAA", "BBB")
    }
    assert curve[0] == pytest.approx(10_000)
    assert curve[100] == pytest.approx(10_000 * (growth["AAA"][100] + growth["BBB"][100] + 1) / 3)
    bh = res.metrics["buy_and_hold_return"]
    assert curve[-1] == pytest.approx(10_000 * (1 + bh), rel=1e-12)  # type: ignore[operator]
    single = run_backtest(
        BARS.filter(pl.col("symbol") == "AAA"), SMA, CFG, initial_capital=500, timeframe="1d"
    )
    closes = BARS.filter(pl.col("symbol") == "AAA")["close"]
    assert single.buy_and_hold is not None
    assert single.buy_and_hold.to_list() == pytest.approx((500 * closes / closes[0]).to_list())


def test_window_and_symbol_filter() -> None:
    res = run({"symbols": ["aaa"], "start": "2000-02-01", "end": "2000-06-30"})
    assert res.trades["symbol"].unique().to_list() in ([], ["AAA"])
    assert res.equity["timestamp"].min().isoformat().startswith("2000-02-01")
    assert res.resolved_config["position_size"] == 1.0


def test_progress_and_cancel() -> None:
    seen: list[tuple[str, float]] = []
    run(progress=lambda stage, pct: seen.append((stage, pct)))
    stages = [s for s, _ in seen]
    assert "signals" in stages and "simulate" in stages and "metrics" in stages
    assert all(0.0 <= p <= 1.0 for _, p in seen)
    with pytest.raises(RunCancelled):
        run(should_cancel=lambda: True)
    calls = {"n": 0}

    def later() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(RunCancelled):
        run({"grid": {"fast_period": [3, 5, 8], "slow_period": [20, 30]}}, should_cancel=later)


def test_grid_leaderboard_matches_single_runs() -> None:
    grid = {"fast_period": [5, 10, 20], "slow_period": [10, 20, 50]}
    seen: list[tuple[str, float]] = []
    res = run({**CFG, "grid": grid}, progress=lambda s, p: seen.append((s, p)))
    board = res.leaderboard
    assert board is not None
    assert board.height == 6  # 9 combinations, 3 with fast >= slow skipped
    assert res.resolved_config["grid_summary"]["skipped"] == 3
    sharpe = board["sharpe_ratio"].to_list()
    assert sharpe == sorted(sharpe, key=lambda v: (v is None, -(v or 0)))
    assert res.best_params == {
        "fast_period": board["fast_period"][0],
        "slow_period": board["slow_period"][0],
    }
    single = run(params={**SMA, **(res.best_params or {})})
    assert single.metrics == {k: v for k, v in res.metrics.items() if k not in RUN_METRICS}
    top = board.row(0, named=True)
    for key, value in single.metrics.items():
        if key not in ANALYSIS_METRIC_NAMES:  # the best run's analysis is not on the board
            assert top[key] == value, key
    assert ("grid", 1.0) in seen


def test_grid_errors() -> None:
    with pytest.raises(EngineInputError) as info:
        run({"grid": {"fast_period": [30], "slow_period": [10]}})
    assert info.value.type == "invalid_grid"
    with pytest.raises(EngineInputError) as info:
        run({"grid": {"speed": [1, 2]}})
    assert "speed" in info.value.message
    with pytest.raises(EngineInputError) as info:
        run(
            {
                "grid": {"fast_period": list(range(1, 50)), "slow_period": list(range(50, 100))},
                "max_combinations": 100,
            }
        )
    assert info.value.type == "invalid_grid"


def test_periods_per_year_inference() -> None:
    from worker.engine.timeframes import periods_per_year

    assert periods_per_year("1d") == 252
    assert periods_per_year("1w") == 52
    assert periods_per_year("1M") == 12
    assert periods_per_year("1h") == 252 * 6.5
    assert periods_per_year("5m") == 252 * 78
    assert periods_per_year("1d", "crypto") == 365
    assert periods_per_year("1h", "crypto") == 365 * 24
    assert periods_per_year("1D") == periods_per_year("daily") == 252
    assert periods_per_year("4H") == 252 * 390 / 240
    assert periods_per_year("1mo") == 12
    res = run({"periods_per_year": 365})
    assert res.metrics["periods_per_year"] == 365.0


@pytest.mark.parametrize("threads", [1, 3])
def test_grid_is_deterministic_with_threads(threads: int) -> None:
    """Whatever ENGINE_THREADS is, the grid's numbers are those of the default."""
    grid = {"fast_period": [3, 5, 8, 13], "slow_period": [21, 34, 55]}
    a = run({**CFG, "grid": grid})
    b = run({**CFG, "grid": grid}, threads=threads)
    assert a.leaderboard is not None and b.leaderboard is not None
    assert a.leaderboard.equals(b.leaderboard)
    assert a.best_params == b.best_params
    assert a.equity.equals(b.equity)


def test_grid_summary_on_the_result() -> None:
    res = run({**CFG, "grid": {"fast_period": [5, 30], "slow_period": [20]}})
    assert res.grid_summary is not None
    assert res.grid_summary == res.resolved_config["grid_summary"]
    assert res.grid_summary["evaluated"] == 1 and res.grid_summary["skipped"] == 1
    assert run().grid_summary is None


def test_grid_validates_combinations_not_the_base() -> None:
    # fast_period 50 with the default slow_period 30 is invalid, but every combination is valid
    params = {"kind": "sma_crossover", "fast_period": 50}
    res = run({"grid": {"slow_period": [60, 80]}}, params=params)
    assert res.leaderboard is not None and res.leaderboard.height == 2
    assert res.strategy["fast_period"] == 50
    with pytest.raises(EngineInputError) as info:
        run({"grid": {"slow_period": [60]}}, params={"kind": "nope"})
    assert info.value.type == "unknown_strategy"


def test_tune_allocator_is_opt_in_and_harmless() -> None:
    from worker.engine.tuning import tune_allocator

    assert tune_allocator() in (True, False)
    assert run().metrics == run().metrics


def test_tune_native_allocators_sets_what_the_environment_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from worker.engine.tuning import tune_native_allocators

    for name in ("_RJEM_MALLOC_CONF", "MIMALLOC_PURGE_DELAY", "JE_ARROW_MALLOC_CONF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MIMALLOC_PURGE_DELAY", "5")
    assert tune_native_allocators(1_000) == {
        "_RJEM_MALLOC_CONF": "dirty_decay_ms:1000,muzzy_decay_ms:1000",
        "JE_ARROW_MALLOC_CONF": "dirty_decay_ms:1000,muzzy_decay_ms:1000",
    }
    assert os.environ["MIMALLOC_PURGE_DELAY"] == "5"
    assert os.environ["_RJEM_MALLOC_CONF"] == "dirty_decay_ms:1000,muzzy_decay_ms:1000"
    assert tune_native_allocators() == {}


def test_grid_over_rule_expressions() -> None:
    cross = {"op": "crosses_above", "args": ["close", {"op": "ema", "period": 10}]}
    above = {"op": "gt", "args": ["close", {"op": "sma", "period": 20}]}
    params = {"kind": "rules", "entry_long": cross}
    res = run({"grid": {"entry_long": [cross, above]}}, params=params)
    board = res.leaderboard
    assert board is not None and board.schema["entry_long"] == pl.String
    assert res.best_params is not None and res.best_params["entry_long"] in (cross, above)
