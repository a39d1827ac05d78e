"""The vectorised position state machines agree with plain loops."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.test_property import random_bars
from worker.engine import indicators as ind
from worker.engine.market import MarketData
from worker.engine.strategies.crossover import SmaCrossover


def loop_hold(md: MarketData, el, xl, es, xs):  # type: ignore[no-untyped-def]
    out = np.zeros(md.n, dtype=np.int8)
    for lo, hi in zip(md.starts.tolist(), md.ends.tolist(), strict=True):
        pos = 0
        for i in range(lo, hi):
            if el[i] and not es[i]:
                pos = 1
            elif es[i] and not el[i]:
                pos = -1
            elif (pos == 1 and xl[i]) or (pos == -1 and xs[i]):
                pos = 0
            out[i] = pos
    return out


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**31), n_symbols=st.integers(1, 3), n=st.integers(1, 30))
def test_hold_state_machines(seed: int, n_symbols: int, n: int) -> None:
    md = MarketData.from_frame(random_bars(seed, n_symbols, n))
    rng = np.random.default_rng(seed)
    el, xl, es, xs = (rng.random(md.n) < p for p in (0.15, 0.2, 0.15, 0.2))
    nothing = np.zeros(md.n, dtype=bool)
    assert (ind.hold_with_exits(md, el, xl, es, xs) == loop_hold(md, el, xl, es, xs)).all()
    assert (ind.hold(md, el, es) == loop_hold(md, el, nothing, es, nothing)).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n_symbols=st.integers(1, 3), period=st.integers(1, 8))
def test_indicators_per_symbol(seed: int, n_symbols: int, period: int) -> None:
    md = MarketData.from_frame(random_bars(seed, n_symbols, 25))
    sma = ind.sma(md, period)
    hi = ind.rolling_max(md, period)
    for lo, end in zip(md.starts.tolist(), md.ends.tolist(), strict=True):
        close, high = md.close[lo:end], md.high[lo:end]
        for i in range(end - lo):
            if i + 1 < period:
                assert np.isnan(sma[lo + i]) and np.isnan(hi[lo + i])
            else:
                window = close[i + 1 - period : i + 1]
                assert abs(sma[lo + i] - window.mean()) <= 1e-9 * window.mean()
                assert hi[lo + i] == high[i + 1 - period : i + 1].max()
    above, below = ind.crosses(md, sma, md.close)
    assert not (above & below).any()
    assert not above[md.starts].any() and not below[md.starts].any()


def test_symbol_blocks_found_by_search_equal_the_run_length_encoding() -> None:
    from worker.engine import market

    def rle(values: list[str | None]) -> tuple[list[str], list[int]] | None:
        runs = pl.Series(values, dtype=pl.String).rle().struct.unnest()
        names = [str(v) for v in runs["value"].to_list()]
        if None in values or len(set(names)) != len(names) or names != sorted(names):
            return None
        return names, runs["len"].to_list()

    many = market.MAX_SEARCHED_RUNS + 6
    cases: list[list[str | None]] = [
        ["A", "A", "B", "B", "B", "C"],
        ["B", "A"],
        ["A", "B", "A"],
        ["A", "A", None],
        [],
        [f"S{i:03d}" for i in range(many) for _ in range(2)],
        [f"S{i:03d}" for i in range(many) for _ in range(2)][::-1],
    ]
    for values in cases:
        got = market.sorted_runs(pl.Series(values, dtype=pl.String))
        want = rle(values)
        assert (got is None) == (want is None), values
        if got is not None and want is not None:
            assert got[0] == want[0] and got[1].tolist() == want[1]


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_symbols=st.integers(1, 3),
    n=st.integers(1, 40),
)
def test_cross_hold_is_hold_of_crosses(seed: int, n_symbols: int, n: int) -> None:
    """The crossover's compiled position builder equals ``hold`` of the two cross arrays,
    on ties, NaN warm-ups and symbol boundaries."""
    md = MarketData.from_frame(random_bars(seed, n_symbols, n))
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, md.n).astype(np.float64)  # many ties
    b = rng.integers(0, 3, md.n).astype(np.float64)
    a[rng.random(md.n) < 0.1] = np.nan
    b[: rng.integers(0, md.n + 1)] = np.nan
    got = ind.cross_hold(md, a, b)
    want = ind.hold(md, *ind.crosses(md, a, b))
    assert got.dtype == want.dtype and (got == want).all()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n_symbols", [1, 3])
def test_sma_crossover_signal_is_cross_hold_of_the_averages(seed: int, n_symbols: int) -> None:
    md = MarketData.from_frame(random_bars(seed, n_symbols, 5000))
    for fast, slow in ((2, 5), (10, 30), (7, 200)):
        got = SmaCrossover(fast_period=fast, slow_period=slow).signal(md)
        want = ind.cross_hold(md, ind.sma(md, fast), ind.sma(md, slow))
        assert got.tobytes() == want.tobytes()
