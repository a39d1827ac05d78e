"""The grid's compiled path (grid_fast.py) gives exactly the numbers and period sums of
``simulate_metrics_and_sums``, the path of a single run."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from tests.engine.conftest import make_bars
from tests.engine.test_property import random_bars
from worker.engine import equity_stats as es
from worker.engine import grid_fast
from worker.engine import grid_kernel as gk
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.simulate import simulate_metrics_and_sums
from worker.engine.strategies.crossover import EmaCrossover, SmaCrossover
from worker.engine.synthetic import generate_bars

CAPITAL = 10_000.0
CHOICES: dict[str, list[Any]] = {
    "fill": ["next_open", "close"],
    "commission": [0.0, 0.0001, 0.001, 0.01],
    "commission_fixed": [0.0, 0.0, 1.0],
    "slippage_bps": [0.0, 5.0, 50.0],
    "direction": ["long_short", "long_only"],
    "units": ["integer", "fractional"],
    "risk_free_rate": [0.0, 0.0, 0.04],
}
SIZES = [0.3, 1.0, 1.0, 1.5, 4.0]


def cases(count: int, seed: int) -> list[tuple[dict[str, Any], float, int, int, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        config = {k: v[int(rng.integers(len(v)))] for k, v in CHOICES.items()}
        size = SIZES[int(rng.integers(len(SIZES)))]
        config["margin_initial"] = min(1.0, 1.0 / size)
        fast = int(rng.integers(1, 12))
        slow = fast + int(rng.integers(1, 30))
        out.append((config, size, fast, slow, int(rng.integers(2**31))))
    return out


def same(fast: tuple[dict[str, Any], Any], slow: tuple[dict[str, Any], Any]) -> None:
    values, sums = fast
    expected, expected_sums = slow
    assert values.keys() == expected.keys()
    for key, value in expected.items():
        got = values[key]
        assert type(got) is type(value), key
        assert got == value or (isinstance(value, float) and math.isnan(value)), key
    np.testing.assert_array_equal(sums.counts, expected_sums.counts)
    assert sums.powers.tobytes() == expected_sums.powers.tobytes()


def both(
    md: MarketData, strategy: Any, config: dict[str, Any], size: float, partitions: int = 16
) -> tuple[Any, Any]:
    cfg = RunConfig.model_validate(config)
    kw = {"capital": CAPITAL, "size": size, "ppy": 252.0, "partitions": partitions}
    fast = grid_fast.combination(md, strategy, cfg, **kw)
    slow = simulate_metrics_and_sums(md, strategy.signal(md), cfg, **kw)
    return fast, slow


@pytest.mark.parametrize(("config", "size", "fast", "slow", "seed"), cases(100, 7))
def test_compiled_path_equals_the_single_run_path(
    config: dict[str, Any], size: float, fast: int, slow: int, seed: int
) -> None:
    md = MarketData.from_frame(random_bars(seed, 1, int(seed % 400) + 1))
    got, expected = both(md, SmaCrossover(fast_period=fast, slow_period=slow), config, size)
    assert got is not None
    same(got, expected)


@pytest.mark.parametrize(
    ("bars", "fill", "units", "partitions"),
    [
        (65_536, "close", "fractional", 16),
        (65_537, "next_open", "integer", 16),
        (200_000, "close", "fractional", 16),
        (150_001, "next_open", "fractional", 2),
        (140_000, "close", "integer", 64),
    ],
)
def test_long_curves_cross_blocks_and_partitions(
    bars: int, fill: str, units: str, partitions: int
) -> None:
    md = MarketData.from_frame(generate_bars(["X"], bars, "1m", seed=bars))
    config = {"commission": 0.0001, "fill": fill, "units": units}
    for fast, slow in [(3, 40), (10, 30), (50, 200)]:
        got, expected = both(md, SmaCrossover(fast_period=fast, slow_period=slow), config, 1.0)
        assert got is not None
        same(got, expected)


def test_every_compiled_combination_of_a_small_grid_is_exact() -> None:
    md = MarketData.from_frame(random_bars(3, 1, 300, vol=0.01))
    for fast, slow in itertools.product(range(1, 8), range(8, 40, 3)):
        config = {"commission": 0.001, "fill": "close", "units": "fractional"}
        got, expected = both(md, SmaCrossover(fast_period=fast, slow_period=slow), config, 1.0)
        assert got is not None
        same(got, expected)


@pytest.mark.parametrize(
    "config",
    [
        {"stop_loss": 0.01},
        {"take_profit": 0.02},
        {"trailing_stop": 0.02},
        {"entry_order": "limit", "entry_offset": 0.01},
        {"margin_maintenance": 0.3},
        {"borrow_rate": 0.05},
        {"max_volume_share": 0.1},
    ],
)
def test_other_configs_take_the_single_run_path(config: dict[str, Any]) -> None:
    md = MarketData.from_frame(random_bars(1, 1, 50))
    cfg = RunConfig.model_validate(config)
    strategy = SmaCrossover(fast_period=2, slow_period=5)
    assert not grid_fast.applies(md, cfg, strategy)
    kw = {"capital": CAPITAL, "size": 1.0, "ppy": 252.0, "partitions": 4}
    assert grid_fast.combination(md, strategy, cfg, **kw) is None


def test_other_strategies_and_portfolios_take_the_single_run_path() -> None:
    cfg = RunConfig()
    one = MarketData.from_frame(random_bars(1, 1, 50))
    assert not grid_fast.applies(one, cfg, EmaCrossover(fast_period=2, slow_period=5))
    two = MarketData.from_frame(random_bars(1, 2, 50))
    assert not grid_fast.applies(two, cfg, SmaCrossover(fast_period=2, slow_period=5))


def test_a_ruined_curve_is_left_to_the_single_run_path() -> None:
    md = MarketData.from_frame(random_bars(5, 1, 400, vol=0.3))
    cfg = {"fill": "close", "units": "fractional", "margin_initial": 0.25}
    strategy = SmaCrossover(fast_period=2, slow_period=3)
    got, expected = both(md, strategy, cfg, 4.0)
    assert expected[0]["ruined"] is True
    assert got is None


def test_kernel_blocks_are_the_equity_stats_blocks() -> None:
    assert gk.BLOCK == es.STATS_BLOCK


def test_ties_and_near_ties_of_the_averages_compare_exactly() -> None:
    """Prices whose moving averages tie (a repeating pattern) or differ in the last bits
    (tiny steps on a large level) take the exact division of the comparison."""
    pattern = np.tile([100.0, 101.0, 100.0, 101.0, 100.5, 100.5], 80)
    level = 1e6 + np.cumsum(np.random.default_rng(4).integers(-1, 2, 480)) * 1e-9
    for closes in (pattern, level, np.full(480, 50.0)):
        rows = [(c, c * 1.001, c * 0.999, c) for c in closes.tolist()]
        md = MarketData.from_frame(make_bars(rows))
        for fast, slow in [(2, 4), (2, 6), (3, 6), (1, 2), (6, 12)]:
            config = {"fill": "close", "units": "fractional", "commission": 0.001}
            got, expected = both(md, SmaCrossover(fast_period=fast, slow_period=slow), config, 1.0)
            assert got is not None
            same(got, expected)
