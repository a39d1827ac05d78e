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


def test_chunks_are_tiles_of_the_grid_so_children_share_indicators() -> None:
    grid = {"fast_period": list(range(2, 24)), "slow_period": list(range(34, 80))}
    spec = parse_run(SMA, {"grid": grid, "sweep": {"chunk_size": 50}}, initial_capital=1e4)
    chunks, total = split(spec)
    assert total == 22 * 46 and sum(len(c) for c in chunks) == total
    assert sorted(tuple(c.items()) for chunk in chunks for c in chunk) == sorted(
        (("fast_period", f), ("slow_period", s))
        for f in grid["fast_period"]
        for s in grid["slow_period"]
    )
    # in the grid's order a chunk of 50 needs ~2 fast and all 46 slow averages
    periods = [
        len({c["fast_period"] for c in ch} | {c["slow_period"] for c in ch}) for ch in chunks
    ]
    assert max(periods) <= 24 and sum(periods) <= 17 * len(chunks)  # a tile: 7 + 7
    for chunk in chunks:  # within a chunk, the grid's order
        assert chunk == sorted(chunk, key=lambda c: (c["fast_period"], c["slow_period"]))


def test_chunks_join_in_the_grid_order_whatever_their_order_and_only_the_grid_s() -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=400, seed=9)
    one = run_backtest(bars, SMA, {"grid": GRID}, initial_capital=10_000, timeframe="1d")
    spec = parse_run(SMA, {"grid": GRID, "sweep": {"chunk_size": 4}}, initial_capital=1e4)
    chunks, _ = split(spec)
    results = [
        ChunkResult(
            None,
            evaluate_chunk(
                bars,
                parse_run(
                    SMA,
                    {"grid": GRID, "sweep_chunk": {"index": i, "combinations": combos}},
                    initial_capital=10_000,
                ),
                timeframe="1d",
            ),
        )
        for i, combos in enumerate(chunks)
    ]
    merged = simulate_run(bars, spec, timeframe="1d", chunks=results[::-1])
    assert merged.leaderboard is not None and one.leaderboard is not None
    assert merged.leaderboard.equals(one.leaderboard) and merged.metrics == one.metrics
    with pytest.raises(EngineInputError) as twice:
        simulate_run(bars, spec, timeframe="1d", chunks=[*results[:-1], results[0]])
    assert twice.value.type == "invalid_result"
    with pytest.raises(EngineInputError) as short:
        simulate_run(bars, spec, timeframe="1d", chunks=results[:-1])
    assert short.value.type == "invalid_result"
