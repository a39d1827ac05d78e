"""Reports, plots and trade events rendered from a real engine result (no database)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import polars as pl
import pytest

from worker.engine.api import BacktestResult, run_backtest
from worker.engine.synthetic import generate_bars
from worker.results.artifacts import render_files
from worker.results.events import trade_event_frame, trade_events_csv
from worker.results.report import RunIdentity

IDENTITY = RunIdentity(
    run_id="00000000-0000-0000-0000-000000000001",
    attempt=1,
    worker_id="host:1:abc",
    strategy_name="sma <fast>",
    strategy_version="1.0.0",
    dataset_name="synthetic",
    dataset_hash="ab" * 32,
    dataset_timeframe="1d",
    symbols=["AAA", "BBB"],
)


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    bars = generate_bars(symbols=["AAA", "BBB"], n_bars=400, seed=7)
    return run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20},
        {"commission": 0.001, "grid": {"fast_period": [5, 10], "slow_period": [20, 40]}},
        initial_capital=10_000,
        timeframe="1d",
    )


def test_every_file_is_rendered_with_its_kind_and_type(result: BacktestResult) -> None:
    files = {f.filename: f for f in render_files(IDENTITY, result)}
    assert set(files) == {
        "equity.csv",
        "equity.parquet",
        "trades.csv",
        "report.json",
        "equity.png",
        "report.html",
        "leaderboard.csv",
    }
    assert files["equity.png"].data.startswith(b"\x89PNG")
    assert files["report.html"].mime_type == "text/html; charset=utf-8"
    trades = pl.read_csv(files["trades.csv"].data)
    assert trades.height == result.trades.height
    assert pl.read_csv(files["leaderboard.csv"].data).height == 4
    assert pl.read_parquet(files["equity.parquet"].data).equals(result.equity)


def test_html_report_is_self_contained_and_escaped(result: BacktestResult) -> None:
    html = next(f for f in render_files(IDENTITY, result) if f.filename == "report.html")
    text = html.data.decode()
    assert "data:image/png;base64," in text
    assert "<script" not in text and "http://" not in text.replace("http://www.w3", "")
    assert "sma &lt;fast&gt;" in text
    assert "Parameter grid" in text
    assert "the figures below are the best combination" in text
    assert "Sharpe ratio" in text


def test_json_report_is_strict_json_with_identity(result: BacktestResult) -> None:
    report = next(f for f in render_files(IDENTITY, result) if f.filename == "report.json")
    parsed = json.loads(report.data, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert parsed["dataset"]["hash"] == "ab" * 32
    assert parsed["engine_version"] == result.engine_version
    assert parsed["metrics"]["total_trades"] == result.metrics["total_trades"]
    assert parsed["best_params"] == result.best_params


def test_undefined_metrics_are_null_and_said_so() -> None:
    flat = generate_bars(symbols=["AAA"], n_bars=60, seed=1)
    result = run_backtest(
        flat,
        {"kind": "sma_crossover", "fast_period": 50, "slow_period": 55},
        {},
        initial_capital=1000,
        timeframe="1d",
    )
    assert result.metrics["sharpe_ratio"] is None
    files = {f.filename: f for f in render_files(IDENTITY, result)}
    parsed = json.loads(files["report.json"].data)
    assert parsed["metrics"]["sharpe_ratio"] is None
    assert "sharpe_ratio" in parsed["undefined_metrics"]
    assert "the equity curve is flat" in files["report.html"].data.decode()


def test_trade_events_pair_entries_and_exits_in_time_order(result: BacktestResult) -> None:
    frame = trade_event_frame(result.trades)
    assert frame.height == 2 * result.trades.height
    assert frame["timestamp"].is_sorted()
    payloads = [json.loads(p) for p in frame["payload"]]
    exits = [
        p for p, kind in zip(payloads, frame["event_type"], strict=True) if kind == "trade_exit"
    ]
    assert {"trade", "symbol", "side", "units", "price", "fees", "pnl", "return"} <= set(exits[0])
    assert sum(p["pnl"] for p in exits) == pytest.approx(float(result.trades["pnl"].sum()))
    run_id = uuid.uuid4()
    rows = pl.read_csv(
        trade_events_csv(run_id, result.trades),
        has_header=False,
        new_columns=["run_id", "event_type", "timestamp", "payload"],
    )
    assert rows.height == frame.height and rows["run_id"].unique().to_list() == [str(run_id)]
    assert rows["payload"].to_list() == frame["payload"].to_list()


def test_non_finite_values_in_trades_become_null() -> None:
    trades = pl.DataFrame(
        {
            "symbol": ["AAA"],
            "side": ["long"],
            "entry_time": [datetime(2024, 1, 1, tzinfo=UTC)],
            "entry_price": [1.0],
            "exit_time": [datetime(2024, 1, 2, tzinfo=UTC)],
            "exit_price": [float("inf")],
            "units": [1.0],
            "fees": [float("nan")],
            "pnl": [float("-inf")],
            "return": [0.5],
            "exit_reason": ["signal"],
        }
    ).with_columns(pl.col("entry_time", "exit_time").cast(pl.Datetime("us", "UTC")))
    frame = trade_event_frame(trades).filter(pl.col("event_type") == "trade_exit")
    exit_payload = json.loads(frame["payload"][0])
    assert exit_payload["price"] is None and exit_payload["fees"] is None
    assert exit_payload["pnl"] is None and exit_payload["return"] == 0.5
