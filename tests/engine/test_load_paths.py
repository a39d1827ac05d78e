"""The load stage's fast checks answer as the plain ones do, on frames of many chunks (as
``read_parquet`` returns them), sliced columns, and inputs broken at chunk boundaries."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.conftest import START, make_bars
from tests.engine.test_leg_kernels import blocks, numpy_sorted
from worker.engine.api import run_backtest
from worker.engine.bar_kernels import CHUNK, increasing_in_blocks
from worker.engine.column_copy import STEP, increasing_timestamps, positive_prices
from worker.engine.errors import EngineInputError
from worker.engine.market import MarketData
from worker.engine.string_views import all_equal, inline_view

WORDS = ["", "A", "BTC", "BENCH", "ÉTÉ", "X" * 11, "Y" * 12, "Z" * 13, "BTC-USD-PERP-2025"]


def chunked(parts: list[list[str | None]]) -> pl.Series:
    series = [pl.Series("symbol", p, dtype=pl.String) for p in parts]
    return pl.concat(series, rechunk=False) if series else pl.Series("symbol", [], pl.String)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.lists(st.one_of(st.none(), st.sampled_from(WORDS)), max_size=30), max_size=4),
    value=st.sampled_from(WORDS),
    lo=st.integers(0, 40),
    length=st.integers(0, 120),
)
def test_all_equal_is_polars_equality(
    parts: list[list[str | None]], value: str, lo: int, length: int
) -> None:
    column = chunked(parts)
    for candidate in (column, column.slice(lo, length)):
        want = candidate.null_count() == 0 and bool((candidate == value).all())
        assert all_equal(candidate, value) == want


@pytest.mark.parametrize("odd", [0, 1, 4999, 5000, 12_345])
def test_all_equal_finds_one_other_row_in_any_chunk(odd: int) -> None:
    rows: list[str | None] = ["BENCH"] * 12_346
    column = chunked([rows[:5000], rows[5000:]])
    assert column.n_chunks() == 2 and all_equal(column, "BENCH")
    rows[odd] = "BENCI"
    assert not all_equal(chunked([rows[:5000], rows[5000:]]), "BENCH")
    rows[odd] = None
    assert not all_equal(chunked([rows[:5000], rows[5000:]]), "BENCH")


def test_inline_view_is_the_view_polars_stores() -> None:
    for word in WORDS:
        view = inline_view(word)
        if len(word.encode()) > 12:
            assert view is None
            continue
        arrow = pl.Series([word]).to_arrow(compat_level=pl.CompatLevel.newest())
        stored = np.frombuffer(arrow.buffers()[1], dtype=np.uint64)
        assert view == (int(stored[0]), int(stored[1]))


@pytest.mark.parametrize("lengths", [[CHUNK + 1], [2 * CHUNK + 7, 1, CHUNK - 1, CHUNK, 3 * CHUNK]])
def test_increasing_in_blocks_across_chunks(lengths: list[int]) -> None:
    starts, ends = blocks(lengths)
    n = int(ends[-1])
    base = np.concatenate([np.arange(k, dtype=np.int64) * 60 for k in lengths])
    assert increasing_in_blocks(base, starts, ends)
    edges = sorted({1, n - 1, *(int(s) + j for s in starts for j in (CHUNK, CHUNK + 1))})
    for i in (i for i in edges if 0 < i < n):
        for step in (0, 61):  # a repeat, a step back
            ts = base.copy()
            ts[i] = ts[i - 1] - step
            assert increasing_in_blocks(ts, starts, ends) == numpy_sorted(ts, starts), i


def bars_in_chunks(n: int, parts: int, symbols: tuple[str, ...] = ("X",)) -> pl.DataFrame:
    rows = [(100.0 + i % 7, 108.0, 95.0, 101.0 + i % 5) for i in range(n)]
    frame = pl.concat([make_bars(rows, s) for s in symbols]).rechunk()
    step = -(-frame.height // parts)
    return pl.concat([frame.slice(i, step) for i in range(0, frame.height, step)], rechunk=False)


def run(bars: pl.DataFrame) -> dict[str, object]:
    res = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 2, "slow_period": 5},
        {},
        initial_capital=1000,
        timeframe="1d",
    )
    return {
        "metrics": res.metrics,
        "equity": res.equity.to_dicts(),
        "trades": res.trades.to_dicts(),
    }


@pytest.mark.parametrize("symbols", [("X",), ("A", "B", "C")])
def test_a_frame_in_chunks_runs_as_in_one(symbols: tuple[str, ...]) -> None:
    bars = bars_in_chunks(60, 4, symbols)
    assert bars["symbol"].n_chunks() == 4
    md = MarketData.from_frame(bars)
    one = MarketData.from_frame(bars.rechunk())
    assert md.symbols == one.symbols and (md.ends == one.ends).all()
    assert (md.ts == one.ts).all() and (md.close == one.close).all()
    assert run(bars) == run(bars.rechunk())
    shuffled = bars.sample(fraction=1.0, shuffle=True, seed=3)
    assert run(shuffled) == run(bars)


def error(bars: pl.DataFrame) -> EngineInputError:
    with pytest.raises(EngineInputError) as info:
        run_backtest(bars, {"kind": "buy_and_hold"}, {}, initial_capital=1, timeframe="1d")
    return info.value


@pytest.mark.parametrize("row", [0, 14, 15, 16, 59])
def test_bad_bars_in_any_chunk_fail_as_in_one(row: int) -> None:
    bars = bars_in_chunks(60, 4)  # chunks of 15 rows
    nan = bars.with_columns(
        close=pl.when(pl.int_range(pl.len()) == row).then(float("nan")).otherwise("close")
    )
    assert nan["close"].n_chunks() > 1
    got, want = error(nan), error(nan.rechunk())
    assert (got.type, got.message, got.detail) == (want.type, want.message, want.detail)
    assert got.detail["row"] == row + 1
    if row:
        ts = bars["timestamp"].to_list()
        ts[row] = ts[row - 1]
        dup = bars.with_columns(timestamp=pl.Series(ts, dtype=bars["timestamp"].dtype))
        dup = pl.concat([dup.slice(i, 15) for i in range(0, 60, 15)], rechunk=False)
        got = error(dup)
        assert got.message == "bars have duplicate timestamps for a symbol"
        assert got.message == error(dup.rechunk()).message


def test_unknown_symbol_and_other_symbols_in_chunks() -> None:
    bars = bars_in_chunks(20, 3, ("A", "B"))
    with pytest.raises(EngineInputError) as info:
        run_backtest(
            bars, {"kind": "buy_and_hold"}, {"symbols": ["C"]}, initial_capital=1, timeframe="1d"
        )
    assert info.value.type == "unknown_symbol"
    assert info.value.detail == {"unknown": ["C"], "available": ["A", "B"]}
    late = START + timedelta(days=100)
    extra = make_bars([(1.0, 1.0, 1.0, 1.0)], "A", start=late)
    unsorted = pl.concat([bars, extra], rechunk=False)  # A's bar after B's block
    assert run(unsorted) == run(unsorted.sort("symbol", "timestamp"))


def in_chunks(values: np.ndarray, cuts: list[int], dtype: pl.DataType) -> pl.Series:
    bounds = [0, *sorted({min(c, values.shape[0]) for c in cuts}), values.shape[0]]
    parts = [pl.Series("x", values[a:b]) for a, b in itertools.pairwise(bounds)]
    return pl.concat(parts, rechunk=False).cast(dtype)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 3 * STEP),
    cuts=st.lists(st.integers(0, 3 * STEP), max_size=4),
    defects=st.lists(st.integers(0, 3 * STEP), max_size=2),
)
def test_increasing_timestamps_copy_the_column(n: int, cuts: list[int], defects: list[int]) -> None:
    ts = np.arange(n, dtype=np.int64) * 60_000_000
    for d in defects:
        if 0 < d < n:
            ts[d] = ts[d - 1] - (d % 2)  # a repeat or a step back
    series = in_chunks(ts, cuts, pl.Datetime("us", "UTC"))
    got = increasing_timestamps(series)
    if series.n_chunks() < 2:
        assert got is None
        return
    assert got is not None
    assert got[0].dtype == np.int64 and (got[0] == ts).all()
    assert got[1] == bool((ts[1:] > ts[:-1]).all())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, None])
@pytest.mark.parametrize("at", [0, STEP - 1, STEP, 2 * STEP + 5])
def test_positive_prices_copy_or_refuse(bad: float | None, at: int) -> None:
    close = 100.0 + np.arange(2 * STEP + 6, dtype=np.float64)
    series = in_chunks(close, [STEP, STEP + 3], pl.Float64)
    got = positive_prices(series)
    assert got is not None and got.dtype == np.float64 and (got == close).all()
    values = series.to_list()
    values[at] = bad
    broken = pl.concat([pl.Series("x", values[:STEP]), pl.Series("x", values[STEP:])])
    assert broken.n_chunks() == 2 and positive_prices(broken) is None
    assert positive_prices(series.cast(pl.Float32)) is None
    assert positive_prices(series.rechunk()) is None  # one chunk: to_numpy needs no copy


def test_other_timestamp_columns_are_left_to_numpy() -> None:
    ts = np.arange(10, dtype=np.int64)
    assert increasing_timestamps(in_chunks(ts, [5], pl.Datetime("ms", "UTC"))) is None
    with_null = pl.concat([pl.Series("x", [1, None]), pl.Series("x", [3])], rechunk=False)
    assert increasing_timestamps(with_null.cast(pl.Datetime("us", "UTC"))) is None
