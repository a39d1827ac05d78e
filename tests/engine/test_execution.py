"""Hand-computed cases, a few bars each, for every execution rule."""

from __future__ import annotations

import math

import polars as pl
import pytest

from tests.engine.conftest import flat_bars, make_bars, sim
from worker.engine.api import run_backtest
from worker.engine.errors import EngineInputError
from worker.engine.execution import EXIT_REASONS


def trades(s):  # type: ignore[no-untyped-def]
    legs, fills = s.legs, s.fills
    done = fills.units > 0
    return list(
        zip(
            legs.side[done].tolist(),
            legs.entry_row[done].tolist(),
            legs.exit_row[done].tolist(),
            legs.entry_price[done].tolist(),
            legs.exit_price[done].tolist(),
            fills.units[done].tolist(),
            legs.reason[done].tolist(),
            strict=True,
        )
    )


def test_next_open_fill_and_end_of_data(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, 1, 1, 1])
    # signal on bar 0's close -> buy at bar 1's open (11): floor(1000 / 11) = 90 units
    assert trades(s) == [(1, 1, 3, 11.0, 13.5, 90.0, 3)]  # 3 = end_of_data at last close
    assert s.curve.equity.tolist() == [1000.0, 10 + 90 * 11.5, 10 + 90 * 12.5, 10 + 90 * 13.5]
    assert s.metrics["final_value"] == 1225.0
    assert s.metrics["total_trades"] == 1


def test_close_fill_same_bar(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, 1, 1, 1], fill="close")
    assert trades(s) == [(1, 0, 3, 10.5, 13.5, 95.0, 3)]  # floor(1000/10.5) = 95
    assert s.metrics["final_value"] == pytest.approx(1000 - 95 * 10.5 + 95 * 13.5)


def test_no_entry_on_last_close_with_close_fill(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [0, 0, 0, 1], fill="close")
    assert trades(s) == []


def test_commission_both_ways(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, 1, 1, 1], commission=0.01)
    # units = floor(1000 / (11 * 1.01)) = 90; fees 9.9 in, 12.15 out
    assert trades(s)[0][5] == 90.0
    assert s.fills.fees[0] == pytest.approx(9.9 + 12.15)
    assert s.pnl[0] == pytest.approx(90 * 2.5 - 22.05)
    assert s.metrics["commissions_paid"] == pytest.approx(22.05)
    assert s.metrics["final_value"] == pytest.approx(1000 + 225 - 22.05)


def test_fixed_fee(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, 1, 1, 1], commission_fixed=5.0)
    assert trades(s)[0][5] == 90.0  # floor((1000 - 5) / 11)
    assert s.metrics["final_value"] == pytest.approx(1000 + 225 - 10)


def test_fixed_fee_reduces_units() -> None:
    bars = flat_bars([10, 10, 10], [10, 10, 10])
    s = sim(bars, [1, 1, 1], commission_fixed=5.0)
    assert trades(s)[0][5] == 99.0  # floor(995 / 10)


def test_slippage_buys_higher_sells_lower(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, 1, 1, 1], slippage_bps=100)
    _side, _a, _b, pe, px, u, _ = trades(s)[0]
    assert pe == pytest.approx(11 * 1.01)
    assert px == pytest.approx(13.5 * 0.99)
    assert u == 90.0  # floor(1000 / 11.11)
    s = sim(bars4, [-1, -1, -1, -1], slippage_bps=100)
    side, _a, _b, pe, px, u, _ = trades(s)[0]
    assert side == -1
    assert pe == pytest.approx(11 * 0.99)  # short sale fills lower
    assert px == pytest.approx(13.5 * 1.01)  # buy to cover fills higher


def test_integer_vs_fractional_units(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, 1, 1, 1], units="fractional")
    assert trades(s)[0][5] == pytest.approx(1000 / 11)
    assert s.metrics["final_value"] == pytest.approx(1000 / 11 * 13.5)


def test_short_pnl(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [-1, -1, -1, -1])
    assert trades(s) == [(-1, 1, 3, 11.0, 13.5, 90.0, 3)]
    assert s.pnl[0] == pytest.approx(-90 * 2.5)
    # cash after the short sale 1990, then marked to the close
    assert s.curve.cash[1] == pytest.approx(1990.0)
    assert s.curve.equity[1] == pytest.approx(1990 - 90 * 11.5)
    assert s.metrics["final_value"] == pytest.approx(775.0)


def test_long_only_maps_short_to_flat(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [-1, -1, -1, -1], direction="long_only")
    assert trades(s) == []
    assert s.metrics["final_value"] == 1000.0


def test_reversal_in_one_fill(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, -1, -1, -1])
    t = trades(s)
    assert t[0] == (1, 1, 2, 11.0, 12.0, 90.0, 0)  # long exits at bar 2 open on the signal
    # equity at that open = 10 + 90 * 12 = 1090 -> short floor(1090 / 12) = 90 units
    assert t[1] == (-1, 2, 3, 12.0, 13.5, 90.0, 3)


def test_reversal_long_only_just_exits(bars4: pl.DataFrame) -> None:
    s = sim(bars4, [1, -1, -1, -1], direction="long_only")
    assert trades(s) == [(1, 1, 2, 11.0, 12.0, 90.0, 0)]


STOP_BASE = [(100, 100, 100, 100), (100, 101, 99, 100)]


def _stop_case(bar: tuple[float, float, float, float], **cfg: object):  # type: ignore[no-untyped-def]
    bars = make_bars([*STOP_BASE, bar, (100, 100, 100, 100)])
    return trades(sim(bars, [1, 1, 1, 1], capital=10_000, **cfg))


def test_stop_loss_at_level() -> None:
    t = _stop_case((99, 99.5, 94, 96), stop_loss=0.05)
    assert t == [(1, 1, 2, 100.0, 95.0, 100.0, 1)]


def test_stop_loss_gap_fills_at_open() -> None:
    t = _stop_case((93, 94, 90, 92), stop_loss=0.05)
    assert t == [(1, 1, 2, 100.0, 93.0, 100.0, 1)]


def test_take_profit_at_level_and_gap() -> None:
    assert _stop_case((101, 111, 100, 105), take_profit=0.1)[0][4] == pytest.approx(110.0)
    t = _stop_case((112, 115, 111, 113), take_profit=0.1)
    assert t == [(1, 1, 2, 100.0, 112.0, 100.0, 2)]


def test_both_hit_in_one_bar_stop_wins() -> None:
    t = _stop_case((100, 111, 94, 100), stop_loss=0.05, take_profit=0.1)
    assert t == [(1, 1, 2, 100.0, 95.0, 100.0, 1)]


def test_short_stop_and_target() -> None:
    bars = make_bars([*STOP_BASE, (101, 106, 100, 104), (100, 100, 100, 100)])
    t = trades(sim(bars, [-1, -1, -1, -1], capital=10_000, stop_loss=0.05))
    assert t == [(-1, 1, 2, 100.0, 105.0, 100.0, 1)]
    bars = make_bars([*STOP_BASE, (99, 99, 89, 90), (100, 100, 100, 100)])
    t = trades(sim(bars, [-1, -1, -1, -1], capital=10_000, take_profit=0.1))
    assert t[0][4] == pytest.approx(90.0)
    assert t[0][6] == 2


def test_stop_on_entry_bar_with_next_open_fill() -> None:
    bars = make_bars([(100, 100, 100, 100), (100, 101, 94, 97), (97, 98, 96, 97)])
    t = trades(sim(bars, [1, 1, 1], capital=10_000, stop_loss=0.05))
    assert t == [(1, 1, 1, 100.0, 95.0, 100.0, 1)]


def test_flat_after_stop_until_signal_changes() -> None:
    rows = [
        (100, 100, 100, 100),
        (100, 101, 99, 100),
        (99, 99.5, 94, 96),  # stopped here
        (96, 97, 95, 96),
        (96, 97, 95, 96),
        (96, 97, 95, 96),
        (96, 97, 95, 96),
    ]
    bars = make_bars(rows)
    t = trades(sim(bars, [1, 1, 1, 1, 1, 1, 1], capital=10_000, stop_loss=0.05))
    assert len(t) == 1  # still long signal: no re-entry
    t = trades(sim(bars, [1, 1, 1, 0, 1, 1, 1], capital=10_000, stop_loss=0.05))
    assert len(t) == 2
    assert t[1][1] == 5  # re-entered on the open after the signal turned long again


def test_sma_strict_cross_and_no_position_before_first_cross() -> None:
    closes = [1, 2, 3, 4, 3, 2, 1, 2, 3, 3]
    bars = flat_bars(closes, closes)
    res = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 1, "slow_period": 2},
        {"units": "fractional"},
        initial_capital=1000,
        timeframe="1d",
    )
    tr = res.trades
    # fast starts above slow: no position until the first real cross (down at bar 4)
    assert tr["side"].to_list() == ["short", "long"]
    assert tr["entry_time"].dt.day().to_list() == [6, 9]  # bars 5 and 8 (Jan 1 = bar 0)
    assert tr["exit_reason"].to_list() == ["signal", "end_of_data"]


def test_sma_equal_previous_is_not_a_cross() -> None:
    # fast == slow on the bar before does not count as "below"
    closes = [2, 2, 2, 3, 4]
    bars = flat_bars(closes, closes)
    res = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 1, "slow_period": 2},
        {},
        initial_capital=1000,
        timeframe="1d",
    )
    assert res.trades.height == 0


def test_trade_frame_columns_and_pnl(bars4: pl.DataFrame) -> None:
    res = run_backtest(
        bars4, {"kind": "buy_and_hold"}, {"commission": 0.01}, initial_capital=1000, timeframe="1d"
    )
    row = res.trades.row(0, named=True)
    assert row["side"] == "long"
    assert row["exit_reason"] == "end_of_data"
    assert row["pnl"] == pytest.approx(202.95)
    assert row["return"] == pytest.approx(202.95 / 990)
    assert math.isclose(res.metrics["final_value"] or 0, 1202.95)
    assert set(res.equity.columns) >= {"timestamp", "equity", "cash", "drawdown", "exposure"}


def test_multi_symbol_shared_cash_equal_weights() -> None:
    a = flat_bars([10, 10, 10], [10, 10, 10])
    b = flat_bars([20, 20, 20], [20, 20, 20]).with_columns(symbol=pl.lit("Y"))
    bars = pl.concat([a, b])
    res = run_backtest(bars, {"kind": "buy_and_hold"}, {}, initial_capital=1000, timeframe="1d")
    units = dict(zip(res.trades["symbol"], res.trades["units"], strict=True))
    assert units == {"X": 50.0, "Y": 25.0}  # 500 each
    assert res.resolved_config["position_size"] == 0.5


def test_entry_bar_stop_never_fills_at_the_entry_open() -> None:
    # 50 bps slippage puts a 0.3% stop above the raw open: it still fills at the level
    bars = make_bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 100, 100, 100)])
    t = trades(sim(bars, [1, 1, 1], capital=10_000, stop_loss=0.003, slippage_bps=50))
    assert t[0][1:3] == (1, 1)
    assert t[0][4] == pytest.approx(100 * 1.005 * 0.997 * 0.995)


def test_fixed_fee_on_a_reversal_is_paid_by_each_leg(bars4: pl.DataFrame) -> None:
    """A reversal closes one trade and opens another in the same fill; each trade pays its
    own commission_fixed, so the reversal costs 2 x 5 (docs/engine.md, Costs)."""
    s = sim(bars4, [1, -1, -1, -1], commission_fixed=5.0)
    # bar 1 open 11: floor((1000 - 5) / 11) = 90 long, cash 1000 - 990 - 5 = 5
    # bar 2 open 12: sell 90 -> cash 5 + 1080 - 5 = 1080; short floor((1080 - 5) / 12) = 89
    #   -> cash 1080 + 1068 - 5 = 2143; bar 3 close 13.5: buy back 89 -> 2143 - 1201.5 - 5
    assert trades(s) == [(1, 1, 2, 11.0, 12.0, 90.0, 0), (-1, 2, 3, 12.0, 13.5, 89.0, 3)]
    assert s.fills.fees.tolist() == [10.0, 10.0]
    assert s.metrics["commissions_paid"] == pytest.approx(20.0)
    assert s.metrics["final_value"] == pytest.approx(936.5)
    assert s.pnl.tolist() == pytest.approx([90 * 1.0 - 10, 89 * -1.5 - 10])


@pytest.mark.parametrize(("open2", "price"), [(11.5, 10.8), (10.6, 10.6)])
def test_trailing_stop_follows_the_best_high_before_the_bar(open2: float, price: float) -> None:
    # Long at bar 0's close (10). Bar 1 checks 10 * 0.9 = 9 and sets the best high to 12;
    # bar 2 checks 12 * 0.9 = 10.8 (tighter than the 5 % stop-loss at 9.5): its low 10.5
    # trades it at the level, or at the open when bar 2 opens below it (gap).
    bars = make_bars(
        [(10, 10, 10, 10), (10, 12, 10, 11.5), (open2, 11.5, 10.5, 11), (11, 11, 11, 11)]
    )
    res = sim(bars, [1, 1, 1, 1], fill="close", units="fractional", trailing_stop=0.1,
              stop_loss=0.05)  # fmt: skip
    assert [EXIT_REASONS[r] for r in res.legs.reason] == ["trailing_stop"]
    assert res.legs.exit_row.tolist() == [2]
    assert res.legs.exit_price[0] == pytest.approx(price, rel=1e-12)


def test_trailing_stop_on_a_short_and_the_tighter_stop_wins() -> None:
    # Short at 10; bar 1's low 8 makes the trailing level 8 * 1.1 = 8.8 for bar 2, whose
    # high 9 reaches it. With a 2 % stop-loss (10.2) the trailing stop is still tighter;
    # on bar 1 neither trades (trailing 11, stop 10.2, high 10).
    bars = make_bars([(10, 10, 10, 10), (10, 10, 8, 8.5), (8.5, 9, 8.4, 8.6), (9, 9, 9, 9)])
    res = sim(bars, [-1, -1, -1, -1], fill="close", units="fractional", trailing_stop=0.1,
              stop_loss=0.02)  # fmt: skip
    assert [EXIT_REASONS[r] for r in res.legs.reason] == ["trailing_stop"]
    assert res.legs.exit_price[0] == pytest.approx(8.8, rel=1e-12)
    res = sim(bars, [-1, -1, -1, -1], fill="close", units="fractional", trailing_stop=0.3,
              stop_loss=0.02)  # fmt: skip
    assert res.legs.reason.tolist() == [3]  # 8 * 1.3 = 10.4 is looser than 10.2: no exit


def test_atr_trailing_stop_uses_the_previous_bars_atr() -> None:
    # ATR(1) is the true range. Bar 1 checks 10 - 2 * TR0 (1.0) = 8; bar 2 checks the best
    # high 11 - 2 * TR1 (max(1.1, |11 - 10|, |9.9 - 10|) = 1.1) = 8.8, which its low trades.
    bars = make_bars([(10, 10.5, 9.5, 10), (10, 11, 9.9, 10.5), (10.5, 10.6, 8.5, 9), (9, 9, 9, 9)])
    res = sim(bars, [1, 1, 1, 1], fill="close", units="fractional",
              trailing_atr={"period": 1, "multiple": 2})  # fmt: skip
    assert [EXIT_REASONS[r] for r in res.legs.reason] == ["trailing_stop"]
    assert res.legs.exit_row.tolist() == [2]
    assert res.legs.exit_price[0] == pytest.approx(8.8, rel=1e-12)


def test_wilder_atr_by_hand() -> None:
    from worker.engine import indicators as ind
    from worker.engine.market import MarketData

    bars = make_bars([(10, 10.5, 9.5, 10), (10, 11, 9.9, 10.5), (10.5, 10.6, 8.5, 9)])
    atr = ind.atr(MarketData.from_frame(bars), 2)
    # TR = 1.0, 1.1, 2.1; EMA alpha 1/2 seeded with 1.0: 1.05 at bar 1, 1.575 at bar 2
    assert math.isnan(atr[0])
    assert atr[1:].tolist() == [pytest.approx(1.05, rel=1e-12), pytest.approx(1.575, rel=1e-12)]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"trailing_stop": 0.1, "trailing_atr": {"period": 5}}, ""),
        ({"trailing_atr": {"period": 0}}, "trailing_atr.period"),
        ({"trailing_atr": {"multiple": 0}}, "trailing_atr.multiple"),
        ({"trailing_atr": {"span": 3}}, "trailing_atr.span"),
    ],
)
def test_bad_trailing_stops_are_invalid_config(config: dict[str, object], path: str) -> None:
    with pytest.raises(EngineInputError) as info:
        run_backtest(flat_bars([10, 11], [10, 11]), {"kind": "buy_and_hold"}, config,
                     initial_capital=1000, timeframe="1d")  # fmt: skip
    assert info.value.type == "invalid_config"
    assert info.value.detail["errors"][0]["path"] == path
