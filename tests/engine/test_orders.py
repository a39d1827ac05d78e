"""Limit and stop entry orders, on hand-computed cases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import make_bars, sim
from worker.engine.api import run_backtest
from worker.engine.errors import EngineInputError
from worker.engine.execution import EXIT_REASONS, ORDER_ENTRY

LIMIT = {"entry_order": "limit", "entry_offset": 0.05, "entry_valid_bars": 3}
STOP = {"entry_order": "stop", "entry_offset": 0.05, "entry_valid_bars": 3}


def bars_with(bar2: tuple[float, float, float, float]) -> Any:
    """Bar 0's close 10 is the reference of a signal computed on it."""
    return make_bars([(10, 10, 10, 10), (10, 10.2, 9.8, 10), bar2, (10, 10, 10, 10)])


@pytest.mark.parametrize(
    ("bar2", "price"), [((9.9, 10, 9.4, 9.8), 9.5), ((9.3, 10, 9.2, 9.8), 9.3)]
)
def test_long_limit_fills_at_the_level_or_a_better_open(
    bar2: tuple[float, float, float, float], price: float
) -> None:
    # level 10 * 0.95 = 9.5; bar 1's low 9.8 misses it, bar 2 reaches it (or opens below)
    res = sim(bars_with(bar2), [1, 1, 1, 1], **LIMIT)
    assert res.legs.entry_row.tolist() == [2]
    assert res.legs.entry_phase.tolist() == [ORDER_ENTRY]
    assert res.legs.entry_price[0] == pytest.approx(price, rel=1e-12)
    assert res.fills.units.tolist() == [float(int(1000 // price))]


def test_an_order_that_expires_leaves_the_segment_flat() -> None:
    # one bar of life: only bar 1 is tried; the still-long target never buys later
    res = sim(bars_with((9.9, 10, 9.4, 9.8)), [1, 1, 1, 1], **{**LIMIT, "entry_valid_bars": 1})
    assert res.metrics["total_trades"] == 0
    assert res.curve.equity.tolist() == [1000.0] * 4


def test_a_target_change_cancels_the_order() -> None:
    # the flat signal on bar 1 trades at bar 2's open: the order is gone before bar 2
    res = sim(bars_with((9.9, 10, 9.4, 9.8)), [1, 0, 0, 0], **LIMIT)
    assert res.metrics["total_trades"] == 0


@pytest.mark.parametrize(("open1", "price"), [(10, 10.5), (10.8, 10.8)])
def test_long_stop_buys_the_breakout(open1: float, price: float) -> None:
    bars = make_bars([(10, 10, 10, 10), (open1, 10.9, 9.9, 10.7), (10.7, 10.7, 10.7, 10.7)])
    res = sim(bars, [1, 1, 1], slippage_bps=10, **STOP)
    assert res.legs.entry_row.tolist() == [1]
    assert res.legs.entry_price[0] == pytest.approx(price * 1.001, rel=1e-12)


def test_short_limit_waits_above_and_short_stop_below() -> None:
    bars = make_bars([(10, 10, 10, 10), (10, 10.6, 9.4, 10), (10, 10, 10, 10)])
    limit = sim(bars, [-1, -1, -1], **LIMIT, units="fractional")
    stop = sim(bars, [-1, -1, -1], **STOP, units="fractional")
    assert limit.legs.entry_price[0] == pytest.approx(10.5, rel=1e-12)
    assert stop.legs.entry_price[0] == pytest.approx(9.5, rel=1e-12)
    # the short sold at 10.5 covers at 10 on bar 2's close (end of data)
    assert limit.metrics["final_value"] == pytest.approx(1000 + 1000 / 10.5 * 0.5, rel=1e-12)


def test_close_fills_place_the_order_at_the_signal_close() -> None:
    # the signal on bar 1's close (10) places a limit at 9.5, live from bar 2
    bars = make_bars([(10, 10, 9, 10), (10, 10, 9, 10), (9.9, 10, 9.4, 9.8), (10, 10, 10, 10)])
    res = sim(bars, [0, 1, 1, 1], fill="close", **LIMIT)
    assert res.legs.entry_row.tolist() == [2]
    assert res.legs.entry_price[0] == pytest.approx(9.5, rel=1e-12)


def test_stops_start_on_the_bar_after_an_order_fill() -> None:
    # filled at 9.5 on bar 2, whose low 9.0 is under the 5 % stop (9.025): within the bar
    # the low may have come first, so the stop is checked from bar 3 (low 8.9: it trades)
    bars = make_bars(
        [(10, 10, 10, 10), (10, 10.2, 9.8, 10), (9.9, 10, 9.0, 9.8), (9.5, 9.6, 8.9, 9)]
    )
    res = sim(bars, [1, 1, 1, 1], stop_loss=0.05, units="fractional", **LIMIT)
    assert res.legs.exit_row.tolist() == [3]
    assert [EXIT_REASONS[r] for r in res.legs.reason] == ["stop_loss"]
    assert res.legs.exit_price[0] == pytest.approx(9.5 * 0.95, rel=1e-12)


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"entry_order": "iceberg"}, "entry_order"),
        ({"entry_order": "limit", "entry_valid_bars": 0}, "entry_valid_bars"),
        ({"entry_order": "stop", "entry_offset": 1}, "entry_offset"),
        ({"entry_order": "limit", "entry_offset": -0.1}, "entry_offset"),
    ],
)
def test_bad_orders_are_invalid_config(config: dict[str, Any], path: str) -> None:
    with pytest.raises(EngineInputError) as info:
        run_backtest(bars_with((10, 10, 10, 10)), {"kind": "buy_and_hold"}, config,
                     initial_capital=1000, timeframe="1d")  # fmt: skip
    assert info.value.type == "invalid_config"
    assert info.value.detail["errors"][0]["path"] == path


def test_an_offset_without_an_order_type_is_refused() -> None:
    with pytest.raises(EngineInputError) as info:
        run_backtest(bars_with((10, 10, 10, 10)), {"kind": "buy_and_hold"},
                     {"entry_offset": 0.01}, initial_capital=1000, timeframe="1d")  # fmt: skip
    assert info.value.type == "invalid_config"
    assert "entry_order 'limit' or 'stop'" in info.value.message


def test_rules_and_built_ins_take_orders_trailing_stops_and_carry() -> None:
    # Long from bar 0's signal with a limit 5 % under its close; the trailing stop 10 %
    # under the best high before each bar: bar 2 fills at 9.5, bar 3's high 11 moves the
    # level to 9.9 for bar 4, whose low 9.8 trades it. Borrow on a long costs nothing.
    bars = make_bars(
        [(10, 10, 10, 10), (10, 10.2, 9.8, 10), (9.9, 10, 9.4, 9.8), (10, 11, 10, 10.8),
         (10.5, 10.6, 9.8, 10), (10, 10, 10, 10)]
    )  # fmt: skip
    config = {**LIMIT, "trailing_stop": 0.1, "borrow_rate": 0.1, "units": "fractional"}
    rules = {"kind": "rules", "entry_long": {"op": "gt", "args": ["close", 0]}}
    for params in (rules, {"kind": "buy_and_hold"}):
        res = run_backtest(bars, params, config, initial_capital=1000, timeframe="1d")
        trade = res.trades.row(0, named=True)
        assert trade["exit_reason"] == "trailing_stop"
        assert trade["entry_price"] == pytest.approx(9.5, rel=1e-12)
        assert trade["exit_price"] == pytest.approx(9.9, rel=1e-12)
        assert res.metrics["carry_paid"] == 0.0
        assert res.metrics["final_value"] == pytest.approx(1000 / 9.5 * 9.9, rel=1e-12)


def _rules_run(bars: Any, params: dict[str, Any], config: dict[str, Any]) -> Any:
    rules = {"kind": "rules", "entry_long": {"op": "gt", "args": ["close", 0]}, **params}
    return run_backtest(bars, rules, config, initial_capital=1000, timeframe="1d")


def test_a_rule_prices_the_long_limit_at_its_signal_bar() -> None:
    # entry_long_level = the bar's low: on bar 0 that is 9.6, so bar 1 (low 9.8) misses it
    # and bar 2 (low 9.4) fills at 9.6
    bars = make_bars(
        [(10, 10, 9.6, 10), (10, 10.2, 9.8, 10), (9.9, 10, 9.4, 9.8), (10, 10, 10, 10)]
    )
    res = _rules_run(bars, {"entry_long_level": "low"}, {"entry_order": "limit",
                     "entry_valid_bars": 3, "units": "fractional"})  # fmt: skip
    trade = res.trades.row(0, named=True)
    assert trade["entry_price"] == pytest.approx(9.6, rel=1e-12)
    assert res.metrics["final_value"] == pytest.approx(1000 / 9.6 * 10, rel=1e-12)


def test_a_rule_level_beyond_the_open_fills_at_the_open() -> None:
    # a long stop at rolling_high(1) of bar 0 (10.5) with bar 1 opening at 10.8: a gap
    # through the level fills at the open, as an offset level does
    bars = make_bars([(10, 10.5, 9.9, 10), (10.8, 11, 10.7, 10.9), (11, 11, 11, 11)])
    level = {"op": "rolling_high", "period": 1}
    res = _rules_run(bars, {"entry_long_level": level}, {"entry_order": "stop"})
    assert res.trades.row(0, named=True)["entry_price"] == pytest.approx(10.8, rel=1e-12)


def test_a_missing_or_non_positive_rule_level_places_no_order() -> None:
    # sma(5) is missing on bar 0; close - 20 is negative: neither places an order, and the
    # still-long target does not enter later
    bars = make_bars([(10, 10, 1, 10)] * 4)
    for level in ({"op": "sma", "period": 5}, {"op": "sub", "args": ["close", 20]}):
        res = _rules_run(bars, {"entry_long_level": level}, {"entry_order": "limit",
                         "entry_valid_bars": 3})  # fmt: skip
        assert res.metrics["total_trades"] == 0


def test_a_side_without_a_rule_level_keeps_the_offset_rule() -> None:
    # the short side has a level (10.6, the high of the signal bar), the long side none:
    # it keeps the 5 % offset (9.5)
    bars = make_bars([(10, 10.6, 9.9, 10), (10, 10.7, 9.4, 10), (10, 10, 10, 10)])
    config = {"entry_order": "limit", "entry_offset": 0.05, "units": "fractional"}
    short = {"kind": "rules", "entry_short": {"op": "gt", "args": ["close", 0]},
             "entry_short_level": "high"}  # fmt: skip
    res = run_backtest(bars, short, config, initial_capital=1000, timeframe="1d")
    assert res.trades.row(0, named=True)["entry_price"] == pytest.approx(10.6, rel=1e-12)
    res = _rules_run(bars, {"entry_short_level": "high"}, config)
    assert res.trades.row(0, named=True)["entry_price"] == pytest.approx(9.5, rel=1e-12)


@pytest.mark.parametrize(
    ("params", "config", "message"),
    [
        ({"entry_long_level": "low"}, {}, "entry_long_level price entry orders"),
        (
            {"entry_long_level": "low", "entry_short_level": "high"},
            {"entry_order": "limit", "entry_offset": 0.01},
            "entry_offset is unused",
        ),
    ],
)
def test_rule_levels_need_an_order_type_and_no_unused_offset(
    params: dict[str, Any], config: dict[str, Any], message: str
) -> None:
    with pytest.raises(EngineInputError) as info:
        _rules_run(bars_with((10, 10, 10, 10)), params, config)
    assert info.value.type == "invalid_config"
    assert message in info.value.message


def test_a_rule_level_must_be_a_number() -> None:
    level = {"op": "gt", "args": ["close", 1]}
    with pytest.raises(EngineInputError) as info:
        _rules_run(bars_with((10, 10, 10, 10)), {"entry_long_level": level},
                   {"entry_order": "limit"})  # fmt: skip
    assert "entry_long_level" in info.value.message
    assert "must be a number" in info.value.message


def test_a_grid_over_rule_levels_ranks_what_single_runs_give() -> None:
    bars = make_bars(
        [(10, 10.2, 9.6, 10), (10, 10.2, 9.8, 10.1), (9.9, 10, 9.4, 9.8), (10, 11, 9.9, 10.8),
         (10.5, 10.6, 9.8, 10), (10, 10.4, 10, 10.3)]
    )  # fmt: skip
    levels = ["low", {"op": "mul", "args": ["close", 0.97]}, "close"]
    config = {"entry_order": "limit", "entry_valid_bars": 2, "units": "fractional"}
    grid = _rules_run(bars, {}, {**config, "grid": {"entry_long_level": levels},
                                 "grid_metric": "total_return"})  # fmt: skip
    assert grid.leaderboard is not None
    assert grid.leaderboard.height == 3
    by_level = {}
    for level in levels:
        one = _rules_run(bars, {"entry_long_level": level}, config)
        by_level[str(level)] = one.metrics["total_return"]
    assert sorted(grid.leaderboard["total_return"].to_list()) == pytest.approx(
        sorted(by_level.values()), rel=1e-12
    )
