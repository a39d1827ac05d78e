"""A walk-forward fanned out as a sweep: every child evaluates one chunk of the grid on one
optimisation window (a fold's train window, or the out-of-sample span) and the parent ranks
them; the result equals the same walk-forward as one run, for several fold and chunk
layouts, through the children's own configs and the chunks' stored form."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from worker.engine.api import BacktestResult, parse_run, run_backtest, simulate_run
from worker.engine.errors import EngineInputError
from worker.engine.folds import ChunkResult, window_of
from worker.engine.sweep import evaluate_chunk
from worker.engine.synthetic import generate_bars
from worker.pipeline.chunks import decode, encode
from worker.pipeline.inputs import RunInputs, validate_inputs
from worker.pipeline.sweep import MAX_WALK_FORWARD_CHILDREN, fan_out
from worker.queue.handler import PermanentRunError, RunJob

SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}
GRID = {"fast_period": [3, 5, 8, 12], "slow_period": [20, 30, 45]}


def _bars() -> pl.DataFrame:
    """Three symbols on different timelines (BBB misses every 7th bar, CCC starts late)."""
    bars = generate_bars(symbols=["AAA", "BBB", "CCC"], n_bars=700, seed=11)
    ordinal = pl.int_range(0, pl.len()).over("symbol")
    return bars.filter(
        ~((pl.col("symbol") == "BBB") & (ordinal % 7 == 3))
        & ~((pl.col("symbol") == "CCC") & (ordinal < 60))
    )


BARS = _bars()


def inputs_for(config: dict[str, Any]) -> RunInputs:
    job = RunJob(
        id=uuid.uuid4(),
        dataset_id=uuid.uuid4(),
        strategy_id=uuid.uuid4(),
        mode="backtest",
        initial_capital=Decimal(10_000),
        config=config,
        attempt=1,
        max_attempts=3,
        worker_id="test",
    )
    row = {
        "strategy_params": SMA,
        "symbols": ["AAA", "BBB", "CCC"],
        "dataset_name": "synthetic",
        "dataset_hash": "0" * 64,
        "storage_uri": "unused.parquet",
        "timeframe": "1d",
        "strategy_name": "sma",
        "strategy_version": "1.0.0",
    }
    return validate_inputs(job, row)


def swept(config: dict[str, Any], chunk_size: int) -> tuple[BacktestResult, list[dict[str, Any]]]:
    """The sweep run as the fleet runs it: the parent's fan-out, each child from its own
    config (JSON), its chunk stored and read back, and the parent's fan-in."""
    parent = inputs_for({**config, "sweep": {"chunk_size": chunk_size}})
    children = fan_out(parent, BARS).children
    results, configs = [], []
    for child in children:
        child_config = json.loads(child.config_json)
        configs.append(child_config)
        spec = parse_run(SMA, child_config, initial_capital=10_000)
        stored = encode(evaluate_chunk(BARS, spec, timeframe="1d"))
        evaluation = decode(
            stored.combinations, stored.partitions, stored.rows, stored.counts, stored.powers
        )
        chunk = spec.config.sweep_chunk
        assert chunk is not None and chunk.index == child.index
        window = window_of(chunk.window) if chunk.window is not None else None
        results.append(ChunkResult(window, evaluation))
    return simulate_run(BARS, parent.spec, timeframe="1d", chunks=results), configs


def one_run(config: dict[str, Any]) -> BacktestResult:
    return run_backtest(BARS, SMA, config, initial_capital=10_000, timeframe="1d")


def assert_same(merged: BacktestResult, one: BacktestResult) -> None:
    assert merged.metrics == one.metrics
    assert merged.equity.equals(one.equity) and merged.trades.equals(one.trades)
    assert merged.best_params == one.best_params and merged.strategy == one.strategy
    assert merged.walk_forward is not None and one.walk_forward is not None
    assert merged.walk_forward.folds.equals(one.walk_forward.folds)
    assert merged.walk_forward.in_sample.equals(one.walk_forward.in_sample)
    assert merged.walk_forward.buy_and_hold.equals(one.walk_forward.buy_and_hold)
    assert merged.walk_forward.summary == one.walk_forward.summary
    assert merged.benchmark is not None and one.benchmark is not None
    assert merged.benchmark.equals(one.benchmark)
    resolved = {k: v for k, v in merged.resolved_config.items() if k != "sweep"}
    assert resolved == {k: v for k, v in one.resolved_config.items() if k != "sweep"}


LAYOUTS = [
    ({"train": 200, "test": 100}, 1),  # rolling, one combination per child
    ({"train": 200, "test": 100}, 4),
    ({"train": 150, "test": 80, "anchored": True}, 5),  # expanding train windows
    ({"train": 120, "test": 60, "step": 100}, 3),  # gaps: the out-of-sample span is 4 ranges
    ({"train": "6mo", "test": "3mo"}, 100),  # calendar windows, one child per window
]


@pytest.mark.parametrize(("walk_forward", "chunk_size"), LAYOUTS)
def test_a_swept_walk_forward_equals_the_one_run(
    walk_forward: dict[str, Any], chunk_size: int
) -> None:
    config = {"commission": 0.001, "grid": GRID, "walk_forward": walk_forward}
    one = one_run(config)
    merged, configs = swept(config, chunk_size)
    assert_same(merged, one)
    assert one.walk_forward is not None
    windows = one.walk_forward.folds.height + 1
    per_window = -(-12 // chunk_size)  # the grid's 12 combinations, in chunks
    assert len(configs) == windows * per_window
    assert all("walk_forward" not in c and "sweep" not in c for c in configs)
    folds = [c["sweep_chunk"]["window"]["fold"] for c in configs]
    assert folds == [f for f in [*range(1, windows), None] for _ in range(per_window)]


def test_gaps_leave_the_out_of_sample_window_in_pieces() -> None:
    config = {"grid": GRID, "walk_forward": {"train": 120, "test": 60, "step": 100}}
    _merged, configs = swept(config, 100)
    first_train = configs[0]["sweep_chunk"]["window"]["ranges"]
    out_of_sample = configs[-1]["sweep_chunk"]["window"]["ranges"]
    assert len(first_train) == 1 and len(out_of_sample) > 1
    rolling = {"grid": GRID, "walk_forward": {"train": 120, "test": 60}}
    _merged, configs = swept(rolling, 100)
    assert len(configs[-1]["sweep_chunk"]["window"]["ranges"]) == 1  # adjacent tests merged


def test_a_grid_metric_other_than_sharpe_ranks_the_same() -> None:
    config = {
        "grid": GRID,
        "grid_metric": "max_drawdown_duration_bars",
        "walk_forward": {"train": 250, "test": 100},
    }
    merged, _configs = swept(config, 2)
    assert_same(merged, one_run(config))


def test_chunks_of_other_windows_are_refused() -> None:
    parent = parse_run(
        SMA,
        {"grid": GRID, "walk_forward": {"train": 200, "test": 100}, "sweep": {"chunk_size": 4}},
        initial_capital=10_000,
    )
    other = {"grid": GRID, "walk_forward": {"train": 210, "test": 100}}
    _merged, configs = swept(other, 4)
    results = []
    for child_config in configs:
        spec = parse_run(SMA, child_config, initial_capital=10_000)
        assert spec.config.sweep_chunk is not None and spec.config.sweep_chunk.window is not None
        window = window_of(spec.config.sweep_chunk.window)
        results.append(ChunkResult(window, evaluate_chunk(BARS, spec, timeframe="1d")))
    with pytest.raises(EngineInputError) as caught:
        simulate_run(BARS, parent, timeframe="1d", chunks=results)
    assert caught.value.type == "invalid_result" and "walk-forward windows" in caught.value.message


def test_too_many_children_fail_the_split_clearly() -> None:
    config = {
        "grid": {"fast_period": [2, 3, 4], "slow_period": list(range(20, 40))},
        "walk_forward": {"train": 2, "test": 1},
        "sweep": {"chunk_size": 4},
    }  # about 700 windows (a fold per bar, and the out-of-sample span) × 15 chunks
    with pytest.raises(PermanentRunError) as caught:
        fan_out(inputs_for(config), BARS)
    assert caught.value.type == "invalid_config"
    assert f"more than {MAX_WALK_FORWARD_CHILDREN:,}" in caught.value.message


def test_too_few_bars_fail_the_split_before_any_child() -> None:
    config = {"grid": GRID, "walk_forward": {"train": 900, "test": 10}, "sweep": {"chunk_size": 4}}
    with pytest.raises(PermanentRunError) as caught:
        fan_out(inputs_for(config), BARS)
    assert caught.value.type == "invalid_config" and "too few" in caught.value.message


@pytest.mark.parametrize(
    ("window", "words"),
    [
        ({"fold": 1, "ranges": []}, "at least 1"),
        ({"fold": 1, "ranges": [["2020-01-02", "2020-01-01"]]}, "start before it ends"),
        (
            {"fold": 1, "ranges": [["2020-01-01", "2020-02-01"], ["2020-01-15", "2020-03-01"]]},
            "must not overlap",
        ),
        ({"fold": 0, "ranges": [["2020-01-01", "2020-02-01"]]}, "greater than or equal to 1"),
        ({"ranges": [["2020-01-01", "2020-02-01"]]}, "fold"),
    ],
)
def test_bad_chunk_windows_fail_clearly(window: dict[str, Any], words: str) -> None:
    chunk = {"index": 0, "combinations": [{"fast_period": 3}], "window": window}
    with pytest.raises(EngineInputError) as caught:
        parse_run(SMA, {"grid": GRID, "sweep_chunk": chunk}, initial_capital=10_000)
    assert caught.value.type == "invalid_config" and words in caught.value.message


def test_a_chunk_cannot_walk_forward_itself() -> None:
    chunk = {"index": 0, "combinations": [{"fast_period": 3}]}
    config = {"grid": GRID, "sweep_chunk": chunk, "walk_forward": {"train": 50, "test": 20}}
    with pytest.raises(EngineInputError) as caught:
        parse_run(SMA, config, initial_capital=10_000)
    assert "walk_forward belongs to the sweep itself" in caught.value.message
