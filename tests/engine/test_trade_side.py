"""A single run's trades built on the ``beside`` thread (``api._trade_side``) equal, byte
for byte, those built inline: the thread is held busy for the inline run, so every piece
of ``beside`` work is done on the caller's thread there. The runs here are short, so
``api.BESIDE_MIN_BARS`` is lowered for them (a run that short does its work inline)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.engine.conftest import make_bars
from tests.engine.test_property import configs, random_bars, with_margin, with_orders
from worker.engine import api
from worker.engine.api import BacktestResult, parse_run, run_backtest
from worker.engine.beside import beside
from worker.engine.frames import trades_frame
from worker.engine.market import MarketData
from worker.engine.portfolio import Fills
from worker.engine.simulate import simulate
from worker.engine.timeframes import periods_per_year

Threads = list[str]


@contextmanager
def held_beside() -> Iterator[None]:
    """The ``beside`` thread kept busy until the block ends (its work then runs inline)."""
    caller, started, release = threading.current_thread(), threading.Event(), threading.Event()

    def hold() -> bool:
        if threading.current_thread() is caller:  # the thread was busy: it ran here
            return False
        started.set()
        release.wait()
        return True

    deadline = time.monotonic() + 10
    held = beside(hold)
    while not started.wait(0.005):
        assert time.monotonic() < deadline, "the beside thread never became free"
        if held.done():  # an earlier run's work still held the thread: try again
            held = beside(hold)
    try:
        yield
    finally:
        release.set()
        assert held.result(timeout=10)


@pytest.fixture(autouse=True)
def short_runs_beside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "BESIDE_MIN_BARS", 0)


@pytest.fixture
def trade_threads(monkeypatch: pytest.MonkeyPatch) -> Threads:
    """The name of the thread each ``api._trade_side`` call ran on."""
    names: Threads = []
    real = api._trade_side

    def recorded(md: Any, fills: Fills) -> Any:
        names.append(threading.current_thread().name)
        return real(md, fills)

    monkeypatch.setattr(api, "_trade_side", recorded)
    return names


def frame_bytes(frame: pl.DataFrame) -> list[tuple[str, str, bytes]]:
    """Each column's name, dtype and Arrow buffers: equal frames have equal bytes."""
    out = []
    for series in frame.get_columns():
        arrow = series.rechunk().to_arrow()
        data = b"".join(bytes(b) for b in arrow.buffers() if b is not None)
        out.append((series.name, str(series.dtype), data))
    return out


def assert_same(a: BacktestResult, b: BacktestResult) -> None:
    assert a.metrics.keys() == b.metrics.keys()
    for key in a.metrics:
        assert repr(a.metrics[key]) == repr(b.metrics[key]), key
    assert frame_bytes(a.equity) == frame_bytes(b.equity)
    assert frame_bytes(a.trades) == frame_bytes(b.trades)
    assert a.analysis == b.analysis


def both_ways(bars: pl.DataFrame, params: dict[str, Any], config: dict[str, Any]) -> BacktestResult:
    def run() -> BacktestResult:
        return run_backtest(bars, params, config, initial_capital=10_000, timeframe="1d")

    free = run()
    with held_beside():
        inline = run()
    assert_same(free, inline)
    # and both are the simulation's own, built without the trade side
    spec = parse_run(params, config, initial_capital=10_000)
    md, cfg, strategy = MarketData.from_frame(bars), spec.config, spec.strategy
    assert strategy is not None
    size = cfg.position_size or strategy.default_position_size(1)
    ppy = periods_per_year("1d", cfg.calendar)
    levels = strategy.entry_levels(md)
    sim = simulate(md, strategy.signal(md), cfg, capital=10_000, size=size, ppy=ppy, levels=levels)
    assert frame_bytes(free.trades) == frame_bytes(trades_frame(md, sim))
    assert {k: repr(free.metrics[k]) for k in sim.metrics} == {
        k: repr(v) for k, v in sim.metrics.items()
    }
    return free


params_of = st.one_of(
    st.builds(
        lambda f, s: {"kind": "sma_crossover", "fast_period": f, "slow_period": f + s},
        st.integers(1, 6),
        st.integers(1, 8),
    ),
    st.builds(lambda p: {"kind": "breakout", "period": p}, st.integers(2, 10)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(30, 150),
    vol=st.sampled_from([0.03, 0.2, 0.4]),
    params=params_of,
    config=configs,
    size=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    plain=st.booleans(),
)
def test_beside_equals_inline(
    seed: int,
    n: int,
    vol: float,
    params: dict[str, Any],
    config: dict[str, Any],
    size: float,
    plain: bool,
) -> None:
    bars = random_bars(seed, 1, n, vol)
    # ``plain``: the SMA crossover's direct path to sized legs (crossover_fills) applies
    chosen = {"fill": config["fill"], "commission": config["commission"]} if plain else config
    run_config = with_margin({**with_orders(chosen, 0.01, 3), "position_size": size}, size)
    res = both_ways(bars, params, run_config)
    event("ruined" if res.metrics["ruined"] else f"margin calls: {res.metrics['margin_calls'] > 0}")
    event(f"trades: {min(res.trades.height, 2)}")


def test_the_trades_are_built_on_the_beside_thread(
    trade_threads: Threads, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the curve's pass of 200 bars is shorter than the thread's wake-up, and work not
    # started when it is read is done by the reader: the simulation here waits for the
    # trades to have started somewhere before it runs
    calls = len(trade_threads)
    real = api.simulate

    def late(*args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + 10
        while len(trade_threads) == calls and time.monotonic() < deadline:
            time.sleep(0.0005)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "simulate", late)
    bars = random_bars(3, 1, 200)
    params = {"kind": "sma_crossover", "fast_period": 3, "slow_period": 9}
    for _ in range(20):  # the buy-and-hold curve may still hold the thread: then inline
        with held_beside():
            pass
        calls = len(trade_threads)
        run_backtest(bars, params, {}, initial_capital=10_000, timeframe="1d")
        if trade_threads[-1].startswith("engine-beside"):
            break
    assert trade_threads[-1].startswith("engine-beside")
    calls = len(trade_threads)
    with held_beside():
        run_backtest(bars, params, {}, initial_capital=10_000, timeframe="1d")
    assert trade_threads[-1] == threading.current_thread().name


def test_a_short_run_does_its_work_inline(
    trade_threads: Threads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below ``BESIDE_MIN_BARS`` nothing goes to the thread, and the numbers are the same."""
    bars = random_bars(5, 1, 300)
    params = {"kind": "sma_crossover", "fast_period": 3, "slow_period": 9}
    put: list[object] = []
    real = api.beside
    monkeypatch.setattr(api, "beside", lambda fn: put.append(fn) or real(fn))
    threaded = run_backtest(bars, params, {}, initial_capital=10_000, timeframe="1d")
    assert len(put) == 3 and len(trade_threads) == 1
    monkeypatch.setattr(api, "BESIDE_MIN_BARS", bars.height + 1)
    inline = run_backtest(bars, params, {}, initial_capital=10_000, timeframe="1d")
    assert len(put) == 3 and len(trade_threads) == 1
    assert_same(threaded, inline)


def leveraged(closes: list[float], **config: Any) -> tuple[pl.DataFrame, dict[str, Any]]:
    bars = make_bars([(c, c, c, c) for c in closes], "X")
    return bars, {"fill": "close", "units": "fractional", **config}


def test_a_ruined_run_rebuilds_its_trades(trade_threads: Threads) -> None:
    # long 2:1 at 10, then 4: the cross exits at the close and the equity is below 0, so
    # the run is ruined and the short that would have opened there never trades
    bars, config = leveraged([10, 9, 10, 4, 3, 3.5, 4, 5], position_size=2.0, margin_initial=0.5)
    params = {"kind": "sma_crossover", "fast_period": 1, "slow_period": 2}
    res = run_backtest(bars, params, config, initial_capital=10_000, timeframe="1d")
    assert res.metrics["ruined"] is True
    assert res.trades["side"].to_list() == ["long"] and res.metrics["total_trades"] == 1
    assert trade_threads  # built from the fills before the ruin, then not used
    both_ways(bars, params, config)


def test_a_margin_called_run_rebuilds_its_trades() -> None:
    closes = [10, 11, 12, 13, 10, 9.5, 9, 9, 11, 12, 13, 10, 11]
    bars, config = leveraged(closes, position_size=2.0, margin_initial=0.5, margin_maintenance=0.4)
    params = {"kind": "sma_crossover", "fast_period": 1, "slow_period": 2}
    res = run_backtest(bars, params, config, initial_capital=10_000, timeframe="1d")
    assert res.metrics["margin_calls"] == 1 and res.metrics["ruined"] is False
    assert res.trades["exit_reason"].to_list() == ["margin_call"]
    both_ways(bars, params, config)
