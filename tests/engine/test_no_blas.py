"""Multi-symbol products are plain left-to-right sums, so the engine needs no BLAS (and so
no scipy, numba's only BLAS) and gives the same bits on any CPU."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from worker.engine.ordered_dot import ordered_dot

# An install without scipy (it is no runtime dependency): a multi-symbol run with carry, which
# takes both of the sizing loop's products, must work and leave scipy unimported. numba
# imports scipy, and its BLAS binding, whenever it is installed, so the test hides it.
WITHOUT_SCIPY = """
import sys

class NoScipy:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "scipy":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoScipy())

import worker.pipeline.runner
from worker.engine import generate_bars, run_backtest

bars = generate_bars(["A", "B", "C"], 3000, "1h", seed=3)
config = {"units": "fractional", "margin_initial": 0.5, "cash_interest_rate": 0.05,
          "borrow_rate": 0.03, "funding_rate": 0.01}
res = run_backtest(bars, {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20},
                   config, initial_capital=10_000, timeframe="1h")
assert res.metrics["total_trades"] > 0
print(sorted(m for m in sys.modules if m.partition(".")[0] == "scipy"))
"""


def test_the_engine_runs_without_scipy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SCIPY], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def _loop(a: list[float], b: list[float]) -> float:
    acc = 0.0
    for x, y in zip(a, b, strict=True):
        acc += x * y
    return acc


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 16, 17, 33, 130])
def test_ordered_dot_is_the_left_to_right_loop(n: int) -> None:
    rng = np.random.default_rng(n)
    book = rng.standard_normal((2, n)) * 10.0 ** rng.integers(-8, 8, size=(2, n))
    book[:, rng.random(n) < 0.3] = 0.0
    row = rng.random(n) * 10.0 ** rng.integers(-3, 6, size=n)
    got = ordered_dot(book, row).tolist()
    assert [v.hex() for v in got] == [_loop(r, row.tolist()).hex() for r in book.tolist()]
    one = float(ordered_dot(book[0], row))
    assert one.hex() == _loop(book[0].tolist(), row.tolist()).hex()


def test_ordered_dot_of_negative_zeros_is_the_loops_zero() -> None:
    zeros = np.full(4, -0.0)
    assert float(ordered_dot(zeros, np.ones(4))).hex() == _loop([-0.0] * 4, [1.0] * 4).hex()
    assert not np.signbit(ordered_dot(zeros, np.ones(4)))
