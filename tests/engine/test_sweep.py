"""A sweep's chunks, evaluated apart and joined, rank exactly as the same grid in one run;
and a chunk's stored form gives back the very numbers."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine.api import parse_run, run_backtest, simulate_run
from worker.engine.errors import EngineInputError
from worker.engine.folds import ChunkResult
from worker.engine.sweep import evaluate_chunk, split
from worker.engine.synthetic import generate_bars
from worker.pipeline.chunks import decode, encode

SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}
GRID = {"fast_period": [3, 5, 8, 10, 15, 25], "slow_period": [20, 30, 40, 60]}


@pytest.mark.parametrize("chunk_size", [1, 5, 7, 100])
def test_joined_chunks_equal_the_one_run_grid(chunk_size: int) -> None:
    bars = generate_bars(symbols=["AAA", "BBB"], n_bars=600, seed=3)
    one = run_backtest(bars, SMA, {"grid": GRID}, initial_capital=10_000, timeframe="1d")
    spec = parse_run(SMA, {"grid": GRID, "sweep": {"chunk_size": chunk_size}}, initial_capital=1e4)
    chunks, total = split(spec)
    assert total == 24 and sum(len(c) for c in chunks) == 23  # fast 25 / slow 20 is invalid
    assert max(len(c) for c in chunks) <= chunk_size
    assert max(len(c) for c in chunks) - min(len(c) for c in chunks) <= 1
    results = []
    for index, combos in enumerate(chunks):
        child = parse_run(
            SMA,
            {"grid": GRID, "sweep_chunk": {"index": index, "combinations": combos}},
            initial_capital=10_000,
        )
        stored = encode(evaluate_chunk(bars, child, timeframe="1d"))
        part = decode(
            stored.combinations, stored.partitions, stored.rows, stored.counts, stored.powers
        )
        results.append(ChunkResult(None, part))
    merged = simulate_run(bars, spec, timeframe="1d", chunks=results)
    assert one.leaderboard is not None and merged.leaderboard is not None
    assert merged.leaderboard.equals(one.leaderboard)
    assert merged.leaderboard.to_dicts() == one.leaderboard.to_dicts()
    assert merged.metrics == one.metrics
    assert merged.best_params == one.best_params and merged.grid_summary == one.grid_summary
    assert merged.equity.equals(one.equity) and merged.trades.equals(one.trades)


def test_a_chunk_round_trips_exactly() -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=300, seed=5)
    spec = parse_run(
        SMA,
        {
            "grid": GRID,
            "sweep_chunk": {"index": 0, "combinations": [{"fast_period": 3, "slow_period": 20}]},
        },
        initial_capital=10_000,
    )
    evaluation = evaluate_chunk(bars, spec, timeframe="1d")
    stored = encode(evaluation)
    back = decode(stored.combinations, stored.partitions, stored.rows, stored.counts, stored.powers)
    assert back.rows == evaluation.rows
    assert np.array_equal(back.sums[0].powers, evaluation.sums[0].powers)
    assert np.array_equal(back.sums[0].counts, evaluation.sums[0].counts)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"sweep": {"chunk_size": 5}}, "sweep needs a grid"),
        ({"grid": GRID, "sweep": {"chunk_size": 0}}, "chunk_size"),
        (
            {
                "grid": GRID,
                "sweep": {"chunk_size": 5},
                "sweep_chunk": {"index": 0, "combinations": [{"fast_period": 3}]},
            },
            "children only",
        ),
    ],
)
def test_bad_sweep_configs_fail_clearly(config: dict[str, object], words: str) -> None:
    with pytest.raises(EngineInputError) as caught:
        parse_run(SMA, config, initial_capital=10_000)
    assert caught.value.type == "invalid_config" and words in caught.value.message
