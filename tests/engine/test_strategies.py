from __future__ import annotations

import numpy as np
import pytest

from worker.engine.api import run_backtest
from worker.engine.market import MarketData
from worker.engine.strategies import REGISTRY, parse_strategy
from worker.engine.synthetic import generate_bars

BARS = generate_bars(["AAA", "BBB", "CCC"], 400, seed=11)


@pytest.mark.parametrize("kind", sorted(set(REGISTRY) - {"rules"}))
def test_every_builtin_runs(kind: str) -> None:
    res = run_backtest(BARS, {"kind": kind}, {}, initial_capital=100_000, timeframe="1d")
    assert res.metrics["bars"] == 400
    assert res.strategy["kind"] == kind
    assert res.equity.height == 400


def test_rules_sma_cross_equals_builtin_positions() -> None:
    sma = {"op": "sma", "period": 5}
    slow = {"op": "sma", "period": 20}
    rules = {
        "kind": "rules",
        "entry_long": {"op": "crosses_above", "args": [sma, slow]},
        "entry_short": {"op": "crosses_below", "args": [sma, slow]},
    }
    md = MarketData.from_frame(BARS)
    a = parse_strategy(rules).signal(md)
    b = parse_strategy({"kind": "sma_crossover", "fast_period": 5, "slow_period": 20}).signal(md)
    assert (a == b).all()


def test_rules_exits_and_logic() -> None:
    rule = {
        "kind": "rules",
        "entry_long": {
            "op": "and",
            "args": [
                {"op": "lt", "args": [{"op": "rsi", "period": 14}, 35]},
                {"op": "gt", "args": ["close", {"op": "rolling_low", "period": 10}]},
            ],
        },
        "exit_long": {"op": "gt", "args": [{"op": "rsi", "period": 14}, 55]},
        "entry_short": {"op": "lt", "args": [{"op": "returns", "period": 5}, -0.08]},
        "exit_short": {
            "op": "not",
            "args": [{"op": "lt", "args": ["close", {"op": "ema", "period": 10}]}],
        },
    }
    res = run_backtest(BARS, rule, {}, initial_capital=100_000, timeframe="1d")
    assert res.metrics["total_trades"] > 0
    md = MarketData.from_frame(BARS)
    sig = parse_strategy(rule).signal(md)
    assert set(np.unique(sig).tolist()) <= {-1, 0, 1}


def test_momentum_holds_top_n() -> None:
    md = MarketData.from_frame(BARS)
    sig = parse_strategy({"kind": "momentum", "lookback": 20, "top_n": 2, "rebalance_every": 10})
    s = sig.signal(md)
    held = np.zeros((400, 3), dtype=int)
    held[md.t_idx, md.sym] = s
    assert held[:20].sum() == 0  # nothing before the first full lookback
    assert (held[20:].sum(axis=1) == 2).all()  # always the top 2 afterwards
    res = run_backtest(
        BARS, {"kind": "momentum", "top_n": 2}, {}, initial_capital=100_000, timeframe="1d"
    )
    assert res.resolved_config["position_size"] == 0.5
    assert set(res.trades["side"].to_list()) == {"long"}


def test_ema_and_rsi_definitions() -> None:
    bars = generate_bars(["AAA"], 60, seed=2)
    md = MarketData.from_frame(bars)
    from worker.engine import indicators as ind

    close = md.close
    e = ind.ema(md, 5)
    alpha = 2 / 6
    ref = [close[0]]
    for x in close[1:]:
        ref.append(alpha * x + (1 - alpha) * ref[-1])
    assert np.isnan(e[:4]).all()
    np.testing.assert_allclose(e[4:], ref[4:], rtol=1e-12)
    r = ind.rsi(md, 14)
    d = np.diff(close)
    g, lo = [max(d[0], 0)], [max(-d[0], 0)]
    for x in d[1:]:
        g.append(g[-1] + (max(x, 0) - g[-1]) / 14)
        lo.append(lo[-1] + (max(-x, 0) - lo[-1]) / 14)
    want = 100 - 100 / (1 + np.array(g) / np.array(lo))
    np.testing.assert_allclose(r[15:], want[14:], rtol=1e-9)
    s = ind.sma(md, 7)
    np.testing.assert_allclose(s[6:], np.convolve(close, np.ones(7) / 7, "valid"), rtol=1e-12)


def test_momentum_never_wants_more_than_top_n_when_a_held_symbol_misses_a_rebalance() -> None:
    """BBB is bought at the t=2 rebalance, then has bars only on odd timestamps, so no
    rebalance row of its own ever comes again; it must be dropped after the t=4 rebalance
    picks AAA, not carried beside it at 2x exposure."""
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from worker.engine.bars import canonicalize

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for t in range(12):
        rows.append((t, "AAA", 100.0 + 0.1 * t))
        if t < 4 or t % 2 == 1:
            rows.append((t, "BBB", 100.0 * 1.1**t))
    bars = canonicalize(
        pl.DataFrame(
            {
                "timestamp": [t0 + timedelta(days=t) for t, _, _ in rows],
                "symbol": [s for _, s, _ in rows],
                "open": [c for _, _, c in rows],
                "high": [c for _, _, c in rows],
                "low": [c for _, _, c in rows],
                "close": [c for _, _, c in rows],
                "volume": [1.0] * len(rows),
            }
        )
    )
    strategy = {"kind": "momentum", "lookback": 1, "top_n": 1, "rebalance_every": 2}
    md = MarketData.from_frame(bars)
    s = parse_strategy(strategy).signal(md)
    held = np.zeros((md.n_times, md.n_symbols), dtype=int)
    held[md.t_idx, md.sym] = s
    assert held[2].tolist() == [0, 1]  # BBB is the best at t=2
    assert held[4:, 1].sum() == 0 and held[4:, 0].all()  # t=4 picks AAA; BBB is dropped
    res = run_backtest(
        bars,
        strategy,
        {"fill": "close", "units": "fractional"},
        initial_capital=10_000,
        timeframe="1d",
    )
    bbb = res.trades.filter(pl.col("symbol") == "BBB").row(0, named=True)
    assert bbb["exit_time"] == t0 + timedelta(days=5)  # BBB's first bar after t=4
    assert bbb["exit_reason"] == "signal"
    # BBB cannot trade at t=4 (no bar), so both are open at that close only
    after = res.equity.filter(pl.col("timestamp") >= t0 + timedelta(days=5))
    assert after["exposure"].max() <= 1.0 + 1e-12
    assert after["cash"].min() >= 0.0


def test_rules_sma_cross_trades_exactly_like_sma_crossover_on_ties() -> None:
    """200k one-minute bars repeating a 5-bar pattern around 50,000: SMA(5) and SMA(20) are
    mathematically equal on every bar, so any difference in rounding between two SMA
    implementations turns into different crosses. One kernel gives identical trades."""
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from worker.engine import indicators as ind
    from worker.engine import rule_eval
    from worker.engine import rules as rules_lang
    from worker.engine.bars import canonicalize

    n = 200_000
    pattern = 50_000 + np.random.default_rng(7).normal(0, 30, 5)
    close = np.tile(pattern, n // 5)
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    bars = canonicalize(
        pl.DataFrame(
            {
                "timestamp": pl.datetime_range(t0, t0 + timedelta(minutes=n - 1), "1m", eager=True),
                "symbol": ["X"] * n,
                "open": close,
                "high": close + 50,
                "low": close - 50,
                "close": close,
                "volume": np.ones(n),
            }
        )
    )
    fast, slow = {"op": "sma", "period": 5}, {"op": "sma", "period": 20}
    rules = {
        "kind": "rules",
        "entry_long": {"op": "crosses_above", "args": [fast, slow]},
        "entry_short": {"op": "crosses_below", "args": [fast, slow]},
    }
    builtin = {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20}
    config = {"fill": "close", "units": "fractional"}
    a = run_backtest(bars, rules, config, initial_capital=10_000, timeframe="1m")
    b = run_backtest(bars, builtin, config, initial_capital=10_000, timeframe="1m")
    assert a.trades.equals(b.trades)
    assert a.metrics == b.metrics
    md = MarketData.from_frame(bars)
    for node, period in ((fast, 5), (slow, 20)):
        # nested forms take the array kernel, not the cached price-column wrapper
        nested = {"op": "sma", "period": period, "of": {"op": "mul", "args": ["close", 1]}}
        want = ind.sma(md, period)
        for expr in (node, nested):
            got = rule_eval.number(rules_lang.validate(expr, "number"), md)
            assert np.array_equal(got, want, equal_nan=True)


def test_rules_atr_is_the_trailing_stops_kernel_and_validates() -> None:
    from worker.engine import indicators as ind
    from worker.engine.errors import EngineInputError
    from worker.engine.rule_eval import number
    from worker.engine.rules import validate

    md = MarketData.from_frame(BARS)
    node = validate({"op": "atr"}, "number")
    assert node == {"op": "atr", "period": 14}
    assert number(node, md) is ind.atr(md, 14)  # the same cached array
    rule = {
        "kind": "rules",
        "entry_long": {"op": "gt", "args": [{"op": "sub", "args": ["high", "low"]},
                                            {"op": "mul", "args": [2, {"op": "atr", "period": 10}]}]},
    }  # fmt: skip
    res = run_backtest(BARS, rule, {"trailing_atr": {"period": 10, "multiple": 2}},
                       initial_capital=100_000, timeframe="1d")  # fmt: skip
    assert res.metrics["total_trades"] > 0
    with pytest.raises(EngineInputError) as info:
        parse_strategy({"kind": "rules", "entry_long": {"op": "gt", "args": [
            {"op": "atr", "period": 5, "of": "close"}, 1]}})  # fmt: skip
    assert "entry_long.args[0].of" in info.value.message
