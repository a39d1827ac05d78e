"""Costs of carry and the volume participation cap, on hand-computed cases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from tests.engine.conftest import make_bars, sim
from worker.engine.api import run_backtest
from worker.engine.bars import canonicalize
from worker.engine.errors import EngineInputError
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.simulate import simulate, simulate_metrics

CLOSE_FRACTIONAL = {"fill": "close", "units": "fractional"}
#: 0.0365 a year is 0.0001 a day under Actual/365.
DAILY_BP = 0.0365


def flat(
    closes: Sequence[float], start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
) -> pl.DataFrame:
    return make_bars([(c, c, c, c) for c in closes], start=start)


def with_volume(bars: pl.DataFrame, volume: Sequence[float]) -> pl.DataFrame:
    return bars.with_columns(pl.Series("volume", [float(v) for v in volume]))


def test_interest_on_a_margin_loan_compounds_at_the_month_start() -> None:
    # 2:1 long of 200 @ 10 from 1000: cash -1000. Interest 0.0001/day: 0.1 on Jan 31 and
    # 0.1 on Feb 1, where both are posted (cash -1000.2); Feb 2 pays 0.0001 * 1000.2.
    bars = flat([10, 10, 10, 10], start=datetime(2024, 1, 30, tzinfo=UTC))
    res = sim(bars, [1, 1, 1, 1], size=2.0, margin_initial=0.5, cash_interest_rate=DAILY_BP,
              **CLOSE_FRACTIONAL)  # fmt: skip
    assert res.fills.units.tolist() == [200.0]
    np.testing.assert_allclose(res.curve.cash[:3], [-1000.0, -1000.1, -1000.2], rtol=1e-12)
    np.testing.assert_allclose(res.curve.equity, [1000, 999.9, 999.8, 999.69998], rtol=1e-12)
    m = res.metrics
    assert m["carry_paid"] == pytest.approx(0.30002, rel=1e-12)
    assert m["interest_paid"] == pytest.approx(0.30002, rel=1e-12)
    assert m["borrow_paid"] == 0.0 and m["funding_paid"] == 0.0
    assert m["final_value"] == pytest.approx(999.69998, rel=1e-12)


def test_interest_counts_calendar_days_between_bars() -> None:
    # Friday 2024-01-05 and Monday 2024-01-08: three days of interest on a 1000 loan.
    friday = datetime(2024, 1, 5, tzinfo=UTC)
    bars = canonicalize(
        pl.concat(
            [
                flat([10], start=friday),
                flat([10], start=friday + timedelta(days=3)),
                flat([10], start=friday + timedelta(days=4)),
            ]
        )
    )
    res = sim(bars, [1, 1, 1], size=2.0, margin_initial=0.5, cash_interest_rate=DAILY_BP,
              **CLOSE_FRACTIONAL)  # fmt: skip
    np.testing.assert_allclose(res.curve.equity, [1000.0, 999.7, 999.6], rtol=1e-12)


def test_short_borrow_is_charged_on_the_previous_close_value() -> None:
    # Short 100 @ 10 (cash 2000). Borrow 0.001/day on the short's value at the previous
    # close: 1.0 (at 10), 1.2 (at 12), 0.8 (at 8). Equity = cash - accrued - 100 * close.
    bars = flat([10, 12, 8, 10])
    res = sim(bars, [-1, -1, -1, -1], borrow_rate=0.365, **CLOSE_FRACTIONAL)
    np.testing.assert_allclose(res.curve.equity, [1000.0, 799.0, 1197.8, 997.0], rtol=1e-12)
    assert res.metrics["borrow_paid"] == pytest.approx(3.0, rel=1e-12)
    assert res.metrics["carry_paid"] == pytest.approx(3.0, rel=1e-12)
    # the trade's own pnl is the price move and fees; carry is the account's
    assert res.pnl.tolist() == [0.0]


def test_funding_is_signed_longs_pay_shorts_receive() -> None:
    bars = flat([10, 12, 8, 10])
    long = sim(bars, [1, 1, 1, 1], funding_rate=0.365, **CLOSE_FRACTIONAL)
    short = sim(bars, [-1, -1, -1, -1], funding_rate=0.365, **CLOSE_FRACTIONAL)
    assert long.metrics["funding_paid"] == pytest.approx(3.0, rel=1e-12)
    assert short.metrics["funding_paid"] == pytest.approx(-3.0, rel=1e-12)
    assert long.metrics["final_value"] == pytest.approx(997.0, rel=1e-12)
    assert short.metrics["final_value"] == pytest.approx(1003.0, rel=1e-12)


def test_carry_paid_shrinks_the_next_entry() -> None:
    # The short pays 3.0 of borrow; the reversal at bar 3's close buys 997 / 10 units.
    bars = flat([10, 12, 8, 10, 10])
    res = sim(bars, [-1, -1, -1, 1, 1], borrow_rate=0.365, **CLOSE_FRACTIONAL)
    assert res.fills.units.tolist() == [100.0, pytest.approx(99.7, rel=1e-12)]
    assert res.metrics["final_value"] == pytest.approx(997.0, rel=1e-12)


def test_a_position_inside_one_bar_pays_no_carry() -> None:
    # next-open short stopped out at 10% above its entry on the entry bar itself.
    bars = make_bars([(10, 10, 10, 10), (10, 11.5, 10, 11), (11, 11, 11, 11)])
    res = sim(bars, [-1, -1, 0], stop_loss=0.1, borrow_rate=3.0, units="fractional")
    assert res.legs.reason.tolist() == [1]  # stop_loss
    assert res.metrics["carry_paid"] == 0.0


def test_defaults_charge_nothing_and_grid_metrics_agree() -> None:
    bars = flat([10, 12, 8, 10, 11, 9])
    signal = np.array([1, -1, -1, 1, 1, 0], dtype=np.int8)
    md = MarketData.from_frame(bars)
    plain = simulate(md, signal, RunConfig(), capital=1000.0, size=1.0, ppy=252.0)
    assert [plain.metrics[k] for k in ("carry_paid", "interest_paid")] == [0.0, 0.0]
    cfg = RunConfig(borrow_rate=0.5, cash_interest_rate=0.2, funding_rate=0.1, margin_initial=0.5)
    full = simulate(md, signal, cfg, capital=1000.0, size=2.0, ppy=252.0)
    fast = simulate_metrics(md, signal, cfg, capital=1000.0, size=2.0, ppy=252.0)
    assert fast == full.metrics
    assert full.metrics["carry_paid"] > 0


def test_entries_fill_at_most_the_volume_share() -> None:
    bars = with_volume(flat([10, 10, 10, 10]), [1000, 1000, 1000, 1000])
    res = sim(bars, [1, 1, 1, 1], fill="close", max_volume_share=0.05)
    assert res.fills.units.tolist() == [50.0]
    res = sim(bars, [1, 1, 1, 1], fill="close", max_volume_share=0.0123, units="fractional")
    assert res.fills.units.tolist() == [pytest.approx(12.3, rel=1e-12)]


def test_zero_volume_fills_nothing_and_the_rest_is_not_carried() -> None:
    # The entry bar has no volume: the leg is skipped, and the still-long target does not
    # buy on the next bars (as after a stop); the next change trades again.
    bars = with_volume(flat([10, 10, 10, 10, 10]), [0, 1000, 1000, 1000, 1000])
    res = sim(bars, [1, 1, 0, 1, 1], fill="close", max_volume_share=0.5)
    done = res.fills.units > 0
    assert res.legs.entry_row[done].tolist() == [3]
    assert res.fills.units[done].tolist() == [100.0]


def test_exits_are_not_capped() -> None:
    # next-open: the entry fills at bar 1's open (the cap reads bar 1's volume, not the
    # signal bar's), the exit at bar 3's open although bar 3 has no volume.
    bars = with_volume(make_bars([(10, 10, 10, 10)] * 4), [0, 1000, 1000, 0])
    res = sim(bars, [1, 1, 0, 0], max_volume_share=0.5)
    assert res.fills.units.tolist() == [100.0]
    assert res.legs.exit_row.tolist() == [3]
    assert res.metrics["total_trades"] == 1


def test_volume_cap_on_two_symbols() -> None:
    a = with_volume(make_bars([(10, 10, 10, 10)] * 3, "A"), [30, 30, 30])
    b = with_volume(make_bars([(10, 10, 10, 10)] * 3, "B"), [1000, 1000, 1000])
    bars = canonicalize(pl.concat([a, b]))
    res = sim(bars, [1, 1, 1, 1, 1, 1], size=0.5, fill="close", max_volume_share=0.5)
    assert res.fills.units.tolist() == [15.0, 50.0]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"borrow_rate": -0.01}, "borrow_rate"),
        ({"cash_interest_rate": 11}, "cash_interest_rate"),
        ({"funding_rate": -10.5}, "funding_rate"),
        ({"max_volume_share": 0}, "max_volume_share"),
        ({"max_volume_share": 1.5}, "max_volume_share"),
        ({"borrow_rate": "high"}, "borrow_rate"),
        ({"borrow": 0.1}, "borrow"),
        ({"trailing_stop": 0}, "trailing_stop"),
        ({"trailing_stop": 1}, "trailing_stop"),
    ],
)
def test_bad_carry_and_volume_settings_are_invalid_config(
    config: dict[str, Any], path: str
) -> None:
    with pytest.raises(EngineInputError) as info:
        run_backtest(flat([10, 11, 12]), {"kind": "sma_crossover"}, config, initial_capital=1000,
                     timeframe="1d")  # fmt: skip
    assert info.value.type == "invalid_config"
    assert info.value.detail["errors"][0]["path"] == path


def test_negative_volume_is_an_input_error() -> None:
    bars = with_volume(flat([10, 10, 10]), [5, -1, 5])
    with pytest.raises(EngineInputError) as info:
        sim(bars, [1, 1, 1], max_volume_share=0.5)
    assert info.value.type == "invalid_bars"
