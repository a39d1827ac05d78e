"""Buying power, leverage, margin calls and ruin, on hand-computed cases."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from tests.engine.conftest import make_bars, sim
from worker.engine.api import run_backtest
from worker.engine.bars import canonicalize
from worker.engine.errors import EngineInputError
from worker.engine.frames import trades_frame
from worker.engine.market import MarketData

FRACTIONAL_CLOSE = {"fill": "close", "units": "fractional"}


def flat(closes: Sequence[float], symbol: str = "X") -> pl.DataFrame:
    """Bars whose open, high and low are the close."""
    return make_bars([(c, c, c, c) for c in closes], symbol)


def two_symbols(a: Sequence[float], b: Sequence[float]) -> pl.DataFrame:
    return canonicalize(pl.concat([flat(a, "A"), flat(b, "B")]))


def test_entry_is_capped_at_the_cash_left() -> None:
    # A enters with half of 1000 (50 @ 10) and doubles; B then wants half of equity 1500
    # (75 @ 10) but free margin is 1500 - 1000 = 500 of cash: 50 units, cash 0.
    bars = two_symbols([10, 20, 20, 20], [10, 10, 10, 10])
    res = sim(bars, [1, 1, 1, 1, 0, 1, 1, 1], size=0.5, **FRACTIONAL_CLOSE)
    assert res.fills.units.tolist() == [50.0, 50.0]
    assert res.curve.cash.tolist() == [500.0, 0.0, 0.0, 1500.0]
    assert res.curve.equity.tolist() == [1000.0, 1500.0, 1500.0, 1500.0]
    assert (res.curve.gross_value / res.curve.equity).max() == 1.0


def test_shorts_use_up_free_margin() -> None:
    # A short 50 @ 10 (cash 1500); at 20 equity is 500 against a 1000 short: no free margin,
    # so B's entry is skipped.
    bars = two_symbols([10, 20, 20, 20], [10, 10, 10, 10])
    res = sim(bars, [-1, -1, -1, -1, 0, 1, 1, 1], size=0.5, **FRACTIONAL_CLOSE)
    assert res.metrics["total_trades"] == 1
    assert res.fills.units.tolist() == [50.0, 0.0]
    assert res.metrics["final_value"] == 500.0


def test_leverage_with_commission_and_integer_units() -> None:
    # size 2 at margin 0.5: wanted 2000 / (10 * 1.01) = 198.02, margin allows
    # 1000 / (10 * (0.5 + 0.01)) = 196.08 -> 196 units; cash 1000 - 1960 - 19.6.
    res = sim(flat([10, 10, 10]), [1, 1, 1], size=2.0, fill="close", commission=0.01,
              margin_initial=0.5)  # fmt: skip
    assert res.fills.units.tolist() == [196.0]
    assert res.curve.cash[0] == pytest.approx(-979.6)
    assert res.metrics["final_value"] == pytest.approx(-979.6 + 1960 - 19.6)


def test_default_never_borrows_on_one_symbol() -> None:
    res = sim(flat([10, 12, 9, 15]), [1, 1, 1, 1], size=1.0, fill="close", commission=0.01)
    assert res.curve.cash.min() >= 0
    assert res.fills.units.tolist() == [99.0]  # floor(1000 / 10.1)


def test_ruin_stops_the_run_and_metrics_use_the_wiped_path() -> None:
    # short 100 @ 10 (cash 2000); at 25 equity is -500: ruined at bar 2, covered at 25.
    bars = flat([10, 25, 5, 5])
    res = sim(bars, [-1, -1, -1, -1], **FRACTIONAL_CLOSE)
    m = res.metrics
    assert res.curve.equity.tolist() == [1000.0, -500.0, -500.0, -500.0]
    assert m["ruined"] is True and m["ruin_bar"] == 2
    assert m["ruin_time"] == "2024-01-02T00:00:00+00:00"
    assert m["final_value"] == -500.0 and m["total_return"] == -1.5
    # returns of the wiped path [1000, 0]: 0 and -1
    assert m["max_drawdown"] == -1.0 and m["cagr"] == -1.0
    sd = math.sqrt(0.5)
    assert m["sharpe_ratio"] == pytest.approx(-0.5 / sd * math.sqrt(252))
    assert m["volatility"] == pytest.approx(sd * math.sqrt(252))
    assert m["max_drawdown_duration_bars"] == 3 and m["bars"] == 4
    assert m["total_trades"] == 1 and m["margin_calls"] == 0
    assert res.legs.reason.tolist() == [5] and res.pnl.tolist() == [-1500.0]
    json.dumps(m, allow_nan=False)


def test_ruin_closes_a_symbol_without_a_bar_at_its_last_close() -> None:
    # A short 50 @ 10, B long 50 @ 10 (free margin 500 left for B); B has no bar on day 2,
    # when A at 30 brings equity to 1000 - 1500 + 500 = 0: both closed, B at its day-1 close.
    a = flat([10, 30, 30, 30], "A")
    b = flat([10, 10, 10, 10], "B").filter(pl.int_range(pl.len()) != 1)
    bars = canonicalize(pl.concat([a, b]))
    res = sim(bars, [-1, -1, -1, -1, 1, 1, 1], size=0.5, **FRACTIONAL_CLOSE)
    assert res.metrics["ruined"] is True and res.metrics["ruin_bar"] == 2
    assert res.curve.equity.tolist() == [1000.0, 0.0, 0.0, 0.0]
    trades = trades_frame(MarketData.from_frame(bars), res)
    assert trades["exit_reason"].to_list() == ["ruin", "ruin"]
    assert trades["exit_price"].to_list() == [30.0, 10.0]
    assert trades["exit_time"].dt.day().to_list() == [2, 2]
    assert trades["bars_held"].to_list() == [1, 0]


def test_margin_call_liquidates_and_trading_goes_on() -> None:
    # 2:1 long, 200 @ 10 (cash -1000). At 6 equity 200 < 0.25 * 1200: sold at 6, cash 200.
    # Still long-wanted: flat until the target changes; re-entered at 8 with 2:1 (50 units).
    bars = flat([10, 6, 6, 8, 8])
    res = sim(bars, [1, 1, 0, 1, 1], size=2.0, margin_initial=0.5, margin_maintenance=0.25,
              **FRACTIONAL_CLOSE)  # fmt: skip
    m = res.metrics
    assert res.fills.units.tolist() == pytest.approx([200.0, 50.0])
    assert res.legs.reason.tolist() == [4, 3]  # margin_call, end_of_data
    assert res.curve.equity.tolist() == pytest.approx([1000.0, 200.0, 200.0, 200.0, 200.0])
    assert m["margin_calls"] == 1 and m["ruined"] is False and m["ruin_bar"] is None
    assert m["total_return"] == pytest.approx(-0.8)


def test_no_margin_call_above_maintenance() -> None:
    # at 7: equity 400 >= 0.25 * 1400
    res = sim(flat([10, 7, 7, 10]), [1, 1, 1, 1], size=2.0, margin_initial=0.5,
              margin_maintenance=0.25, **FRACTIONAL_CLOSE)  # fmt: skip
    assert res.metrics["margin_calls"] == 0
    assert res.metrics["final_value"] == pytest.approx(-1000 + 2000)


def test_run_backtest_reports_the_margin_call() -> None:
    res = run_backtest(
        flat([10, 6, 6, 10]),
        {"kind": "buy_and_hold"},
        {"fill": "close", "units": "fractional", "position_size": 2, "margin_initial": 0.5,
         "margin_maintenance": 0.25},
        initial_capital=1000,
        timeframe="1d",
    )  # fmt: skip
    assert res.trades["exit_reason"].to_list() == ["margin_call"]
    assert res.trades["exit_price"].to_list() == [6.0]
    assert res.metrics["margin_calls"] == 1
    assert res.resolved_config["margin_initial"] == 0.5


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"position_size": 1.5}, "position_size 1.5 needs leverage"),
        ({"position_size": 3, "margin_initial": 0.5}, "set margin_initial to 0.3333 or less"),
        ({"margin_initial": 0}, "margin_initial: Input should be greater than 0"),
        ({"margin_initial": 0.5, "margin_maintenance": 0.6}, "must not exceed margin_initial"),
    ],
)
def test_margin_config_errors(config: dict[str, object], message: str) -> None:
    with pytest.raises(EngineInputError) as info:
        run_backtest(flat([10, 11]), {"kind": "buy_and_hold"}, config, initial_capital=1000,
                     timeframe="1d")  # fmt: skip
    assert info.value.type == "invalid_config"
    assert message in info.value.message


def test_leverage_is_allowed_up_to_one_over_margin() -> None:
    res = sim(flat([10, 10, 10]), [1, 1, 1], size=4.0, margin_initial=0.25, **FRACTIONAL_CLOSE)
    assert res.fills.units.tolist() == [400.0]
    assert np.isclose(res.curve.cash[0], -3000.0)
