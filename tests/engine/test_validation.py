from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.engine.conftest import flat_bars
from worker.engine.api import run_backtest
from worker.engine.bar_files import read_bars_file
from worker.engine.errors import DatasetValidationError, EngineError, EngineInputError

BARS = flat_bars([10, 11, 12, 13], [10.5, 11.5, 12.5, 13.5])


def fail(params: dict[str, Any], config: dict[str, Any] | None = None) -> EngineInputError:
    with pytest.raises(EngineInputError) as info:
        run_backtest(BARS, params, config or {}, initial_capital=1000, timeframe="1d")
    assert isinstance(info.value, EngineError)
    return info.value


def test_unknown_strategy() -> None:
    err = fail({"kind": "magic"})
    assert err.type == "unknown_strategy"
    assert "magic" in err.message and "sma_crossover" in err.message


def test_invalid_params_readable() -> None:
    err = fail({"kind": "sma_crossover", "fast_period": 30, "slow_period": 10})
    assert err.type == "invalid_params"
    assert "fast_period must be less than slow_period" in err.message
    err = fail({"kind": "sma_crossover", "fast_period": 0})
    assert err.detail["errors"][0]["path"] == "fast_period"
    err = fail({"kind": "rsi", "perod": 3})
    assert "perod: unknown key" in err.message


def test_overrides_are_validated() -> None:
    err = fail({"kind": "sma_crossover"}, {"params": {"slow_period": 5}})
    assert "fast_period must be less than slow_period" in err.message


def test_rules_errors_have_json_paths() -> None:
    rule = {
        "kind": "rules",
        "entry_long": {"op": "gt", "args": ["close", {"op": "sma", "period": 0}]},
    }
    err = fail(rule)
    assert err.type == "invalid_params"
    assert "entry_long.args[1].period: must be >= 1" in err.message
    bad_op = {"kind": "rules", "entry_long": {"op": "and", "args": [{"op": "gtt", "args": []}, 1]}}
    err = fail(bad_op)
    assert err.detail["errors"][0]["path"] == "entry_long.args[0].op"
    err = fail({"kind": "rules", "entry_long": {"op": "sma", "period": 3}})
    assert "entry_long: must be a condition" in err.message
    err = fail({"kind": "rules", "exit_long": {"op": "gt", "args": ["close", 1]}})
    assert "needs entry_long or entry_short" in err.message
    err = fail({"kind": "rules", "entry_long": {"op": "gt", "args": ["close"]}})
    assert "entry_long.args: op 'gt' takes exactly 2 arguments" in err.message


def test_invalid_config() -> None:
    err = fail({"kind": "buy_and_hold"}, {"comission": 0.1})
    assert err.type == "invalid_config"
    assert "comission: unknown key" in err.message
    err = fail({"kind": "buy_and_hold"}, {"fill": "tomorrow"})
    assert err.detail["errors"][0]["path"] == "fill"
    # keys that belong to the queue worker are ignored
    run_backtest(
        BARS, {"kind": "buy_and_hold"}, {"timeout_seconds": 5}, initial_capital=1, timeframe="1d"
    )


def test_empty_window_and_unknown_symbol() -> None:
    err = fail({"kind": "buy_and_hold"}, {"start": "2030-01-01"})
    assert err.type == "empty_window"
    err = fail({"kind": "buy_and_hold"}, {"symbols": ["NOPE"]})
    assert err.type == "unknown_symbol"
    assert "NOPE" in err.message and "X" in err.message


def test_bad_capital_and_timeframe() -> None:
    with pytest.raises(EngineInputError) as info:
        run_backtest(BARS, {"kind": "buy_and_hold"}, {}, initial_capital=0, timeframe="1d")
    assert info.value.type == "invalid_config"
    with pytest.raises(EngineInputError) as info:
        run_backtest(BARS, {"kind": "buy_and_hold"}, {}, initial_capital=10, timeframe="1x")
    assert "timeframe" in info.value.message


def test_error_dict_is_json_shape() -> None:
    err = fail({"kind": "magic"})
    assert set(err.to_dict()) == {"type", "message", "detail"}


HEADER = "Date,Open,High,Low,Close,Volume\n"


@pytest.mark.parametrize(
    ("body", "row", "rule"),
    [
        ("2024-01-01,1,2,0.5,1.5,10\n2024-01-01,1,2,0.5,1.5,10\n", 2, "duplicate_timestamp"),
        ("2024-01-01,1,2,0.5,1.5,10\nnot-a-date,1,2,0.5,1.5,10\n", 2, "unparseable_timestamp"),
        ("2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1,2,0.5,NaN,10\n", 2, "missing_price"),
        ("2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1,2,0.5,-1,10\n", 2, "non_positive_price"),
        ("2024-01-01,1,1.2,0.5,1.5,10\n", 1, "high_below_open_close"),
        ("2024-01-01,1,2,1.2,1.5,10\n", 1, "low_above_open_close"),
        ("2024-01-01,1,2,0.5,abc,10\n", 1, "not_a_number"),
        ("2024-01-01,1,2,0.5,1.5,-3\n", 1, "invalid_volume"),
    ],
)
def test_dataset_errors_name_row_and_rule(tmp_path: Path, body: str, row: int, rule: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + body)
    with pytest.raises(DatasetValidationError) as info:
        read_bars_file(path, "X")
    assert info.value.detail["rule"] == rule
    assert info.value.detail["row"] == row
    assert info.value.message.startswith(f"row {row}: ")


def test_dataset_file_level_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetValidationError) as info:
        read_bars_file(empty, "X")
    assert info.value.detail["rule"] == "empty_file"
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER)
    with pytest.raises(DatasetValidationError) as info:
        read_bars_file(header_only, "X")
    assert info.value.detail["rule"] == "empty_file"
    no_close = tmp_path / "noclose.csv"
    no_close.write_text("Date,Open,High,Low\n2024-01-01,1,2,0.5\n")
    with pytest.raises(DatasetValidationError) as info:
        read_bars_file(no_close, "X")
    assert info.value.detail["rule"] == "missing_columns"
    assert "close" in info.value.message
    no_symbol = tmp_path / "nosymbol.csv"
    no_symbol.write_text(HEADER + "2024-01-01,1,2,0.5,1.5,10\n")
    with pytest.raises(DatasetValidationError) as info:
        read_bars_file(no_symbol)
    assert info.value.detail["rule"] == "missing_symbol"


def test_missing_bar_columns_in_run() -> None:
    with pytest.raises(EngineInputError) as info:
        run_backtest(
            BARS.drop("volume"), {"kind": "buy_and_hold"}, {}, initial_capital=1, timeframe="1d"
        )
    assert info.value.type == "invalid_bars"
    dup = pl.concat([BARS, BARS.head(1)])
    with pytest.raises(EngineInputError) as info:
        run_backtest(dup, {"kind": "buy_and_hold"}, {}, initial_capital=1, timeframe="1d")
    assert info.value.type == "invalid_bars"


def test_bad_prices_in_a_frame_are_input_errors() -> None:
    bad = BARS.with_columns(
        close=pl.when(pl.int_range(pl.len()) == 2).then(float("nan")).otherwise(pl.col("close"))
    )
    with pytest.raises(EngineInputError) as info:
        run_backtest(bad, {"kind": "buy_and_hold"}, {}, initial_capital=1, timeframe="1d")
    assert info.value.type == "invalid_bars"
    assert info.value.detail["row"] == 3
    neg_open = BARS.with_columns(open=pl.lit(-1.0))
    with pytest.raises(EngineInputError):
        run_backtest(neg_open, {"kind": "buy_and_hold"}, {}, initial_capital=1, timeframe="1d")


def test_unknown_grid_metric() -> None:
    err = fail({"kind": "sma_crossover"}, {"grid": {"fast_period": [5]}, "grid_metric": "alpha"})
    assert err.type == "invalid_config"
    assert "grid_metric: unknown metric 'alpha'" in err.message
