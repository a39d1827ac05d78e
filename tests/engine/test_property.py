"""The vectorised engine agrees with the plain bar-by-bar reference on random inputs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine import reference
from tests.engine.conftest import START
from worker.engine.bars import canonicalize
from worker.engine.execution import EXIT_REASONS
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.simulate import simulate
from worker.engine.strategies import parse_strategy

REASONS = EXIT_REASONS


def random_bars(seed: int, n_symbols: int, n: int, vol: float = 0.03) -> pl.DataFrame:
    """Random OHLC bars; ``vol`` is the daily log-return deviation (0.15+ makes leveraged
    runs hit margin calls and ruin)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_symbols):
        keep = np.sort(
            rng.choice(n, size=max(1, n - int(rng.integers(0, n // 3 + 1))), replace=False)
        )
        m = keep.shape[0]
        close = 100 * np.exp(np.cumsum(rng.normal(0, vol, m)))
        prev = np.concatenate([[100.0], close[:-1]])
        open_ = prev * np.exp(rng.normal(0, 0.02, m))
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.02, m)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.02, m)))
        volume = np.where(rng.random(m) < 0.1, 0.0, np.round(rng.uniform(10, 2000, m)))
        frames.append(
            pl.DataFrame(
                {
                    "timestamp": [START + timedelta(days=int(i)) for i in keep],
                    "symbol": [f"S{k}"] * m,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                }
            )
        )
    return canonicalize(pl.concat(frames))


def random_signal(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    out = np.zeros(n, dtype=np.int8)
    value = 0
    for i in range(n):
        if rng.random() < 0.3:
            value = int(rng.integers(-1, 2))
        out[i] = value
    return out


def one_trailing_stop(config: dict[str, Any]) -> dict[str, Any]:
    """A fraction or an ATR trailing stop, not both (that is an invalid config)."""
    return {**config, "trailing_atr": None} if config["trailing_stop"] is not None else config


configs = st.fixed_dictionaries(
    {
        "fill": st.sampled_from(["next_open", "close"]),
        "commission": st.sampled_from([0.0, 0.001, 0.01]),
        "commission_fixed": st.sampled_from([0.0, 1.0]),
        "slippage_bps": st.sampled_from([0.0, 5.0, 50.0]),
        "direction": st.sampled_from(["long_short", "long_only"]),
        "units": st.sampled_from(["integer", "fractional"]),
        "stop_loss": st.sampled_from([None, 0.003, 0.01, 0.03, 0.1]),
        "take_profit": st.sampled_from([None, 0.02, 0.05]),
        "trailing_stop": st.sampled_from([None, None, 0.01, 0.05]),
        "trailing_atr": st.sampled_from(
            [None, None, {"period": 1, "multiple": 0.5}, {"period": 5, "multiple": 2.0}]
        ),
        "entry_order": st.sampled_from(["market", "market", "limit", "stop"]),
        "margin_initial": st.sampled_from([1.0, 1.0, 0.5, 0.25]),
        "margin_maintenance": st.sampled_from([None, None, 0.1, 0.25, 0.5]),
        "cash_interest_rate": st.sampled_from([0.0, 0.0, 0.05, 2.0]),
        "borrow_rate": st.sampled_from([0.0, 0.0, 0.1, 3.0]),
        "funding_rate": st.sampled_from([0.0, 0.0, 0.1, -0.5]),
        "max_volume_share": st.sampled_from([None, None, 0.5, 0.01]),
    }
).map(one_trailing_stop)


def with_orders(config: dict[str, Any], offset: float, valid: int) -> dict[str, Any]:
    """``config`` with the entry order's level and life when it has one."""
    if config.get("entry_order", "market") == "market":
        return config
    return {**config, "entry_offset": offset, "entry_valid_bars": valid}


def random_levels(
    seed: int, bars: pl.DataFrame, config: dict[str, Any], sides: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A rules strategy's entry-order levels for ``sides`` (none/long/short/both): the
    close moved by up to ±5 %, some missing (NaN) and some non-positive (no order)."""
    if config.get("entry_order", "market") == "market":
        return None, None
    rng = np.random.default_rng(seed + 2)
    close = bars["close"].to_numpy()

    def one() -> np.ndarray:
        level = close * (1 + rng.uniform(-0.05, 0.05, close.shape[0]))
        level[rng.random(close.shape[0]) < 0.1] = np.nan
        level[rng.random(close.shape[0]) < 0.05] = -1.0
        return level

    return (
        one() if sides in ("long", "both") else None,
        one() if sides in ("short", "both") else None,
    )


def with_margin(config: dict[str, Any], size: float) -> dict[str, Any]:
    """``config`` with ``margin_initial`` lowered to what ``size`` needs (leverage), and
    ``margin_maintenance`` no higher than that."""
    initial = min(config.get("margin_initial", 1.0), 1.0 / size)
    maintenance = config.get("margin_maintenance")
    if maintenance is not None:
        maintenance = min(maintenance, initial)
    return {**config, "margin_initial": initial, "margin_maintenance": maintenance}


def compare(
    bars: pl.DataFrame,
    signal: np.ndarray,
    config: dict[str, Any],
    size: float,
    levels: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> None:
    capital = 10_000.0
    config = with_margin(config, size)
    md = MarketData.from_frame(bars)
    cfg = RunConfig.model_validate(config)
    got = simulate(md, signal, cfg, capital=capital, size=size, ppy=252.0, levels=levels)
    want = reference.run(bars, signal, reference.Cfg(**config), capital, size, levels)
    np.testing.assert_allclose(got.curve.equity, want.equity, rtol=1e-9, atol=1e-9 * capital)
    done = got.fills.units > 0
    legs = got.legs
    mine = sorted(
        zip(
            [md.symbols[s] for s in legs.sym[done]],
            legs.entry_row[done].tolist(),
            legs.exit_row[done].tolist(),
            [REASONS[r] for r in legs.reason[done]],
            legs.entry_price[done].tolist(),
            legs.exit_price[done].tolist(),
            got.fills.units[done].tolist(),
            got.pnl.tolist(),
            strict=True,
        )
    )
    ref = sorted(
        (
            t["symbol"],
            t["entry_row"],
            t["exit_row"],
            t["exit_reason"],
            t["entry_price"],
            t["exit_price"],
            t["units"],
            t["pnl"],
        )
        for t in want.trades
    )
    assert [m[:4] for m in mine] == [r[:4] for r in ref]
    if mine:
        np.testing.assert_allclose(
            np.array([m[4:] for m in mine]), np.array([r[4:] for r in ref]), rtol=1e-9, atol=1e-6
        )
    assert got.metrics["total_trades"] == len(ref)
    assert got.metrics["ruined"] == (want.ruin_t is not None)
    assert got.metrics["ruin_bar"] == (None if want.ruin_t is None else want.ruin_t + 1)
    assert got.metrics["margin_calls"] == want.margin_calls
    assert got.metrics["carry_paid"] == pytest.approx(want.carry_paid, rel=1e-9, abs=1e-9 * capital)
    assert got.metrics["exposure"] == sum(want.in_market) / len(want.in_market)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n_symbols=st.integers(1, 3),
    n=st.integers(1, 40),
    config=configs,
    size=st.sampled_from([None, 0.3, 1.0, 1.5]),
    vol=st.sampled_from([0.03, 0.03, 0.2, 0.4]),
    offset=st.sampled_from([0.0, 0.005, 0.02]),
    valid=st.sampled_from([1, 2, 5]),
    level_sides=st.sampled_from(["none", "none", "long", "short", "both"]),
)
def test_engine_matches_reference(
    seed: int,
    n_symbols: int,
    n: int,
    config: dict[str, Any],
    size: float | None,
    vol: float,
    offset: float,
    valid: int,
    level_sides: str,
) -> None:
    bars = random_bars(seed, n_symbols, n, vol)
    signal = random_signal(seed, bars.height)
    config = with_orders(config, offset, valid)
    levels = random_levels(seed, bars, config, level_sides)
    compare(bars, signal, config, size if size is not None else 1.0 / n_symbols, levels)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), config=configs, fast=st.integers(1, 5), slow=st.integers(6, 12))
def test_sma_strategy_matches_reference(
    seed: int, config: dict[str, Any], fast: int, slow: int
) -> None:
    bars = random_bars(seed, 2, 60)
    strategy = parse_strategy({"kind": "sma_crossover", "fast_period": fast, "slow_period": slow})
    signal = strategy.signal(MarketData.from_frame(bars))
    compare(bars, signal, config, 0.5)
