"""Reports, plots and trade events rendered from a real engine result (no database)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from worker import jsonsafe
from worker.db.enums import ArtifactKind
from worker.engine.api import BacktestResult, run_backtest
from worker.engine.synthetic import generate_bars
from worker.results import artifacts
from worker.results.artifacts import ARTIFACT_NAMES, ARTIFACTS, DEFAULT_ARTIFACTS, render_files
from worker.results.chart_data import MAX_CURVE_POINTS, chart_data, script_json
from worker.results.csv_text import frame_csv
from worker.results.events import trade_event_frame, trade_events_csv
from worker.results.report import RunIdentity
from worker.results.tearsheet import tearsheet
from worker.results.trade_table import TRADES_SHOWN_EACH_END
from worker.storage import FileStore

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
HOSTILE = replace(
    IDENTITY,
    strategy_name="</script><script>alert(1)</script>",
    label="Momentum </script><!-- & co",
    notes="<b>bold</b> & notes",
    tags=("</script>", "daily"),
)


def files_of(identity: RunIdentity, result: BacktestResult, names=None):  # type: ignore[no-untyped-def]
    return {f.filename: f for f in render_files(identity, result, names)}


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


@pytest.fixture(scope="module")
def single() -> BacktestResult:
    bars = generate_bars(symbols=["AAA"], n_bars=300, seed=3)
    return run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20},
        {},
        initial_capital=10_000,
        timeframe="1d",
    )


def test_defaults_are_the_cheap_artifacts(result: BacktestResult, single: BacktestResult) -> None:
    assert {
        "report_html",
        "report_json",
        "trades_csv",
        "equity_parquet",
        "leaderboard_csv",
    } == DEFAULT_ARTIFACTS
    assert DEFAULT_ARTIFACTS < ARTIFACT_NAMES == set(ARTIFACTS)
    grid_files = files_of(IDENTITY, result)
    assert list(grid_files) == [
        "report.html",
        "report.json",
        "trades.csv",
        "equity.parquet",
        "leaderboard.csv",
    ]
    assert "leaderboard.csv" not in files_of(IDENTITY, single)
    assert pl.read_parquet(grid_files["equity.parquet"].data).equals(result.equity)
    assert pl.read_csv(grid_files["trades.csv"].data).height == result.trades.height
    assert pl.read_csv(grid_files["leaderboard.csv"].data).height == 4


def test_every_artifact_is_rendered_with_its_kind_and_type(result: BacktestResult) -> None:
    files = files_of(IDENTITY, result, ARTIFACT_NAMES)
    assert {f.filename for f in files.values()} == {s.filename for s in ARTIFACTS.values()}
    for spec in ARTIFACTS.values():
        assert files[spec.filename].kind == spec.kind
        assert files[spec.filename].mime_type == spec.mime_type
    assert files["equity.png"].data.startswith(b"\x89PNG")
    assert files["equity.png"].kind == ArtifactKind.PLOT
    assert pl.read_csv(files["equity.csv"].data).height == result.equity.height


@pytest.fixture(scope="module")
def long() -> BacktestResult:
    """120,000 bars: long enough for the side threads."""
    bars = generate_bars(symbols=["AAA"], n_bars=120_000, timeframe="1m", seed=4)
    return run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50},
        {},
        initial_capital=10_000,
        timeframe="1m",
    )


def test_a_long_curve_renders_the_same_files_in_catalogue_order(long: BacktestResult) -> None:
    """On ``ASIDE_ROWS`` bars or more the Parquet file and the CSVs are written in threads beside
    the reports: the files, their order and the curve they hold are those of one thread."""
    files = render_files(IDENTITY, long)
    single_run_defaults = DEFAULT_ARTIFACTS - {"leaderboard_csv"}
    assert [f.filename for f in files] == [
        spec.filename for name, spec in ARTIFACTS.items() if name in single_run_defaults
    ]
    parquet = next(f for f in files if f.filename == "equity.parquet")
    assert parquet.data == artifacts._parquet(long.equity)
    assert pl.read_parquet(parquet.data).equals(long.equity)
    trades = next(f for f in files if f.filename == "trades.csv")
    assert trades.data == frame_csv(long.trades)


@pytest.mark.parametrize("size", ["short", "long"])
def test_stored_files_are_the_rendered_bytes_in_catalogue_order(
    tmp_path: Path, result: BacktestResult, long: BacktestResult, size: str
) -> None:
    """``start_files`` (the worker's path: some files rendered and written on side threads)
    stores exactly what ``render_files`` renders, under the attempt's prefix, in order."""
    run = result if size == "short" else long
    store = FileStore(str(tmp_path))
    rendered = render_files(IDENTITY, run)
    stored = artifacts.start_files(store, IDENTITY.run_id, 2, IDENTITY, run).wait()
    assert [a.filename for a in stored] == [f.filename for f in rendered]
    for file, artifact in zip(rendered, stored, strict=True):
        assert (artifact.kind, artifact.mime_type) == (file.kind, file.mime_type)
        assert Path(artifact.stored.uri) == tmp_path / IDENTITY.run_id / "attempt-2" / file.filename
        assert artifact.stored.size_bytes == len(file.data)
        assert artifact.stored.sha256 == hashlib.sha256(file.data).hexdigest()
        assert Path(artifact.stored.uri).read_bytes() == file.data


def test_only_the_asked_files_are_written(result: BacktestResult) -> None:
    assert list(files_of(IDENTITY, result, frozenset({"trades_csv"}))) == ["trades.csv"]
    assert render_files(IDENTITY, result, frozenset()) == []
    with pytest.raises(ValueError, match="unknown artifact"):
        render_files(IDENTITY, result, frozenset({"report_html", "equity_gif"}))


def test_matplotlib_is_imported_only_for_the_png() -> None:
    script = """
import sys
from worker.engine.api import run_backtest
from worker.engine.synthetic import generate_bars
from worker.results.artifacts import render_files
from worker.results.report import RunIdentity
ident = RunIdentity("r", 1, "w", "s", "1", "d", "h", "1d", ["AAA"])
result = run_backtest(generate_bars(["AAA"], 120), {"kind": "buy_and_hold"}, {},
                      initial_capital=1000, timeframe="1d")
render_files(ident, result)
print("after defaults", "matplotlib" in sys.modules)
render_files(ident, result, frozenset({"equity_png"}))
print("after png", "matplotlib" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split("\n")[:2] == ["after defaults False", "after png True"]


def test_html_report_is_self_contained_and_escaped(result: BacktestResult) -> None:
    text = files_of(HOSTILE, result)["report.html"].data.decode()
    assert "default-src 'none'" in text  # nothing can be fetched
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert text.count("</script>") == 3  # data, uPlot, the report's script: none injected
    assert "<!--" not in text.split('id="run-data">')[1].split("</script>")[0]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Momentum &lt;/script&gt;&lt;!-- &amp; co" in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; notes" in text
    assert "the figures below are the best of 4 combinations" in text
    assert "Sharpe ratio" in text and "Monthly returns" in text
    assert "Worst drawdown periods" in text and "Yearly returns" in text


def test_chart_data_round_trips_through_the_script_tag(result: BacktestResult) -> None:
    sheet = tearsheet(result)
    data = chart_data(result, sheet.drawdowns, "</script> & <b>")
    text = script_json(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == jsonsafe.clean(data)
    assert data["points"] == data["bars"] == result.equity.height  # short curves stay whole
    assert data["curve"]["equity"][-1] == round(float(result.equity["equity"][-1]), 2)
    assert len(data["trades"]["entry_t"]) == result.trades.height


def test_long_curves_are_reduced_and_the_report_says_so() -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=60_000, timeframe="1m", seed=2)
    long = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 30, "slow_period": 200},
        {},
        initial_capital=10_000,
        timeframe="1m",
    )
    data = chart_data(long, tearsheet(long).drawdowns, "bh")
    assert data["bars"] > MAX_CURVE_POINTS and data["points"] < MAX_CURVE_POINTS
    curve = data["curve"]
    assert min(curve["drawdown"]) == round(float(long.equity["drawdown"].min()), 6)  # type: ignore[arg-type]
    assert max(curve["equity"]) == round(float(long.equity["equity"].max()), 2)  # type: ignore[arg-type]
    assert list(curve["t"]) == sorted(curve["t"]) and len(set(curve["t"])) == len(curve["t"])
    text = files_of(IDENTITY, long, frozenset({"report_html"}))["report.html"].data.decode()
    assert "The curve has 60,000 bars; the charts draw" in text
    assert "2000-01-03 00:00" in text  # intraday bars show their time


def test_long_trade_lists_show_both_ends() -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=3000, seed=5)
    busy = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 2, "slow_period": 3},
        {},
        initial_capital=10_000,
        timeframe="1d",
    )
    n = busy.trades.height
    each = TRADES_SHOWN_EACH_END
    assert n > 2 * each
    text = files_of(IDENTITY, busy)["report.html"].data.decode()
    data = json.loads(text.split('id="run-data">')[1].split("</script>")[0])
    shown = data["trade_list"]
    assert (shown["total"], shown["head"], shown["hidden"]) == (n, each, n - 2 * each)
    assert shown["file"] == "trades.csv" and shown["intraday"] is False
    ends = busy.trades.head(each).vstack(busy.trades.tail(each))
    assert shown["pnl"] == ends["pnl"].to_list()  # the last trade is there
    assert shown["exit_reason"] == ends["exit_reason"].to_list()
    assert shown["entry_t"] == [t.timestamp() for t in ends["entry_time"]]
    assert 'id="trade-rows"' in text.split('id="trades"')[1].split("</section>")[0]


def test_json_report_is_strict_json_with_identity(result: BacktestResult) -> None:
    report = files_of(HOSTILE, result)["report.json"]
    parsed = json.loads(report.data, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert parsed["dataset"]["hash"] == "ab" * 32
    assert parsed["engine_version"] == result.engine_version
    assert parsed["metrics"]["total_trades"] == result.metrics["total_trades"]
    assert parsed["best_params"] == result.best_params
    assert parsed["label"] == HOSTILE.label and parsed["tags"] == ["</script>", "daily"]
    assert parsed["buy_and_hold"]["total_return"] == pytest.approx(
        result.metrics["buy_and_hold_return"]
    )
    worst = parsed["drawdown_periods"][0]
    assert worst["depth"] == pytest.approx(result.metrics["max_drawdown"])
    assert {"start", "trough", "recovery", "bars", "duration"} <= set(worst)
    assert parsed["yearly_returns"][0]["year"] == 2000


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
    files = files_of(IDENTITY, result)
    parsed = json.loads(files["report.json"].data)
    assert parsed["metrics"]["sharpe_ratio"] is None
    assert "sharpe_ratio" in parsed["undefined_metrics"]
    html = files["report.html"].data.decode()
    assert "undefined: the equity curve is flat" in html
    assert "undefined: no losing trade (or no trades)" in html
    assert "No trades." in html and "The equity never fell below a previous peak." in html


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


def test_finite_trades_keep_their_payloads_as_written() -> None:
    """With every float finite no token is replaced: a symbol spelt NaN stays a string."""
    trades = pl.DataFrame(
        {
            "symbol": ["NaN"],
            "side": ["long"],
            "entry_time": [datetime(2024, 1, 1, tzinfo=UTC)],
            "entry_price": [1.0],
            "exit_time": [datetime(2024, 1, 2, tzinfo=UTC)],
            "exit_price": [2.0],
            "units": [1.0],
            "fees": [0.0],
            "pnl": [1.0],
            "return": [1.0],
            "exit_reason": ["signal"],
        }
    ).with_columns(pl.col("entry_time", "exit_time").cast(pl.Datetime("us", "UTC")))
    payloads = [json.loads(p) for p in trade_event_frame(trades)["payload"]]
    assert [p["symbol"] for p in payloads] == ["NaN", "NaN"]
    assert payloads[1]["price"] == 2.0 and payloads[1]["pnl"] == 1.0


def test_within_a_timestamp_a_trade_is_entered_before_it_is_left() -> None:
    """Trade 1 is reversed into trade 2 at t1 (1 closes before 2 opens); trade 2 is stopped
    out at t2 and trade 3, opened at t2, is stopped out on its entry bar."""
    t0, t1, t2 = (datetime(2024, 1, day, tzinfo=UTC) for day in (1, 2, 3))
    trades = pl.DataFrame(
        {
            "symbol": ["AAA"] * 3,
            "side": ["long", "short", "long"],
            "entry_time": [t0, t1, t2],
            "entry_price": [1.0, 1.0, 1.0],
            "exit_time": [t1, t2, t2],
            "exit_price": [1.0, 1.0, 1.0],
            "units": [1.0, 1.0, 1.0],
            "fees": [0.0, 0.0, 0.0],
            "pnl": [0.0, 0.0, 0.0],
            "return": [0.0, 0.0, 0.0],
            "exit_reason": ["signal", "stop_loss", "stop_loss"],
        }
    ).with_columns(pl.col("entry_time", "exit_time").cast(pl.Datetime("us", "UTC")))
    frame = trade_event_frame(trades)
    order = [
        (kind.removeprefix("trade_"), json.loads(payload)["trade"])
        for kind, payload in zip(frame["event_type"], frame["payload"], strict=True)
    ]
    assert order == [
        ("entry", 1), ("exit", 1), ("entry", 2), ("exit", 2), ("entry", 3), ("exit", 3)
    ]  # fmt: skip


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("finite", [True, False])
def test_trade_events_csv_is_the_event_frame_as_polars_writes_it(
    finite: bool, native: bool
) -> None:
    """The COPY rows are built without a CSV writer: the bytes must be what polars'
    writer makes of the event frame, quotes, commas and backslashes in the text included."""
    t0, t1, t2 = (datetime(2024, 1, day, 9, 30, 15, 250_000, tzinfo=UTC) for day in (1, 2, 3))
    trades = pl.DataFrame(
        {
            "symbol": ['A"B', "C,D", "E\\F"],
            "side": ["long", "short", "long"],
            "entry_time": [t0, t1, t2],
            "entry_price": [1.0, 1.5, 2.25],
            "exit_time": [t1, t2, t2],
            "exit_price": [1.0, float("nan") if not finite else 3.0, 1e-7],
            "units": [1, 2, 3],
            "fees": [0.0, 0.1, 0.2],
            "pnl": [0.0, float("-inf") if not finite else -1.0, 12345.678],
            "return": [0.0, 0.5, -0.25],
            "exit_reason": ["signal", 'stop "loss"', "take_profit"],
        }
    ).with_columns(pl.col("entry_time", "exit_time").cast(pl.Datetime("us", "UTC")))
    run_id = uuid.uuid4()
    buffer = io.BytesIO()
    trade_event_frame(trades, run_id).write_csv(
        buffer, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z"
    )
    assert trade_events_csv(run_id, trades, native=native) == buffer.getvalue()
    assert trade_events_csv(run_id, trades.head(0), native=native) == b""


def test_grid_report_reads_the_overfitting_statistics(
    result: BacktestResult, single: BacktestResult
) -> None:
    from worker.results.metric_labels import READINGS, format_metric

    text = files_of(IDENTITY, result)["report.html"].data.decode()
    assert "<h3>Overfitting</h3>" in text
    for name, reading in READINGS.items():
        assert reading.replace("'", "&#39;") in text
        assert format_metric(name, result.metrics[name]) in text
    board_html = text.split('class="compact leaderboard"')[1].split("</table>")[0]
    assert '<th class="num">Deflated Sharpe ratio</th>' in board_html
    board = pl.read_csv(files_of(IDENTITY, result)["leaderboard.csv"].data)
    assert {"probabilistic_sharpe_ratio", "deflated_sharpe_ratio"} <= set(board.columns)
    report = json.loads(files_of(IDENTITY, result)["report.json"].data)
    assert report["metrics"]["pbo"] == result.metrics["pbo"]
    assert "<h3>Overfitting</h3>" not in files_of(IDENTITY, single)["report.html"].data.decode()


def test_walk_forward_report_shows_out_of_sample_against_in_sample() -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=900, seed=5)
    wf = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20},
        {
            "grid": {"fast_period": [3, 5, 8], "slow_period": [20, 40]},
            "walk_forward": {"train": "1y", "test": "6mo"},
        },
        initial_capital=10_000,
        timeframe="1d",
    )
    assert wf.walk_forward is not None
    data = chart_data(wf, tearsheet(wf).drawdowns, "buy and hold")
    assert data["strategy_label"] == "Out of sample (walk-forward)"
    assert len(data["curve"]["in_sample"]) == len(data["curve"]["equity"])
    files = files_of(IDENTITY, wf)
    assert "leaderboard.csv" not in files
    text = files["report.html"].data.decode()
    assert "Walk-forward: in sample vs out of sample" in text
    assert text.count("<tr><td>") >= wf.walk_forward.folds.height  # one row per fold
    assert "Walk-forward efficiency" in text
    report = json.loads(files["report.json"].data)
    assert report["walk_forward"]["folds"] == wf.walk_forward.folds.height


def test_a_ruined_run_renders_every_file_and_says_so() -> None:
    # short 100 @ 10 in a market that jumps to 25: equity -500 at the second close
    bars = pl.DataFrame(
        {
            "timestamp": [datetime(2024, 1, d, tzinfo=UTC) for d in range(1, 6)],
            "symbol": ["AAA"] * 5,
            "open": [10.0, 25, 5, 5, 6],
            "high": [10.0, 25, 5, 5, 6],
            "low": [10.0, 25, 5, 5, 6],
            "close": [10.0, 25, 5, 5, 6],
            "volume": [1.0] * 5,
        }
    )
    ruined = run_backtest(
        bars,
        {"kind": "rules", "entry_short": {"op": "gt", "args": ["close", 0]}},
        {"fill": "close", "units": "fractional"},
        initial_capital=1000,
        timeframe="1d",
    )
    files = files_of(IDENTITY, ruined, ARTIFACT_NAMES)
    report = json.loads(files["report.json"].data)
    assert report["metrics"]["ruined"] is True
    assert report["metrics"]["ruin_time"] == "2024-01-02T00:00:00+00:00"
    assert report["metrics"]["final_value"] == -500.0
    assert b"Ruined (equity reached 0)" in files["report.html"].data
    assert ruined.trades["exit_reason"].to_list() == ["ruin"]


def test_the_report_title_says_what_the_run_used(result: BacktestResult) -> None:
    """A grid's page names its best combination (not the strategy's registered 5/20), its
    label and tags, so two reports of one strategy differ in the browser's tabs."""
    best = result.best_params
    assert best is not None
    named = replace(IDENTITY, label="q4 review", tags=("daily", "costs"))
    text = files_of(named, result)["report.html"].data.decode()
    heading = re.search(r"<title>(.*?)</title>", text)
    assert heading is not None
    expected = f"fast_period={best['fast_period']} slow_period={best['slow_period']}"
    assert heading.group(1) == (
        f"q4 review · {expected} · #daily #costs · backtest {IDENTITY.run_id}"
    )
    params = re.search(r'<p class="sub" id="run-params">(.*?)</p>', text, re.S)
    assert params is not None
    assert f"best of the grid <b>{expected}</b>" in params.group(1)
    assert "commission=0.001" in params.group(1) and "→" in params.group(1)


@pytest.mark.parametrize(
    "fmt", ["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%.f%:z", "%d.%m.%Y"]
)
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", None])
@pytest.mark.parametrize("fraction", [0, 999_999])
def test_times_formatted_by_numpy_are_those_polars_writes(
    fmt: str, zone: str | None, fraction: int
) -> None:
    """The trade list and the event rows format their times with numpy where they can: the
    text must be polars' own, whatever the zone, format or fraction of a second."""
    from worker.results.time_text import time_texts

    times = pl.Series(
        [datetime(2024, 3, 1, 23, 59, 59, fraction), None, datetime(1969, 12, 31, 9, 5)],
        dtype=pl.Datetime("us"),
    )
    if zone is not None:
        times = times.dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    if zone is None and "%:z" in fmt:
        return  # a naive time has no offset to write
    assert time_texts(times, fmt) == times.dt.to_string(fmt).fill_null("").to_list()


def _events_by_python_lines(run_id: uuid.UUID, trades: pl.DataFrame) -> bytes:
    """The COPY rows as the worker built them at c8b440f (numpy times, Python f-strings),
    with each payload's quotes doubled on its own."""
    from worker.results.events import _event_order, _payloads
    from worker.results.time_text import COPY_FORMAT, time_texts

    n = trades.height
    parts = _payloads(trades)
    entry_time = time_texts(trades["entry_time"], COPY_FORMAT)
    exit_time = time_texts(trades["exit_time"], COPY_FORMAT)
    entry = [p.replace('"', '""') for p in parts["entry"].to_list()]
    exit_ = [p.replace('"', '""') for p in parts["exit"].to_list()]
    lines = [
        f'{run_id},trade_entry,{entry_time[i]},"{entry[i]}"\n'
        if i < n
        else f'{run_id},trade_exit,{exit_time[i - n]},"{exit_[i - n]}"\n'
        for i in _event_order(trades).tolist()
    ]
    return "".join(lines).encode()


def test_trade_events_csv_both_ways_are_byte_for_byte_the_python_line_builders(
    result: BacktestResult, single: BacktestResult, long: BacktestResult
) -> None:
    run_id = uuid.uuid4()
    for trades in (result.trades, single.trades, long.trades):
        assert trades.height > 0
        reference = _events_by_python_lines(run_id, trades)
        assert trade_events_csv(run_id, trades) == reference
        assert trade_events_csv(run_id, trades, native=True) == reference


def test_equity_parquet_columns_without_nulls_are_required() -> None:
    """A column that holds no null is REQUIRED in the file (no definition levels); one with
    a null stays OPTIONAL; the values read back are the frame's."""
    import pyarrow.parquet as pq

    frame = pl.DataFrame(
        {
            "timestamp": [datetime(2024, 1, day, tzinfo=UTC) for day in (1, 2, 3)],
            "equity": [1.0, float("nan"), 3.0],
            "cash": [1.0, None, 2.0],
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
    data = artifacts._parquet(frame)
    schema = pq.read_schema(io.BytesIO(data))
    assert [(f.name, f.nullable) for f in schema] == [
        ("timestamp", False),
        ("equity", False),
        ("cash", True),
    ]
    assert pl.read_parquet(data).equals(frame)


def test_equity_parquet_codec_and_encodings(long: BacktestResult) -> None:
    """LZ4; floats byte-stream-split but the step curve ``cash`` (plain), times
    delta-packed; the values read back are the curve's."""
    import pyarrow.parquet as pq

    data = artifacts._parquet(long.equity)
    group = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert {c.compression for c in columns.values()} == {"LZ4"}
    expected = {
        "timestamp": "DELTA_BINARY_PACKED",
        "cash": "PLAIN",
        **{n: "BYTE_STREAM_SPLIT" for n in ("equity", "position_value", "exposure", "drawdown")},
    }
    assert {name: c.encodings[-1] for name, c in columns.items()} == expected
    assert pl.read_parquet(data).equals(long.equity)


def test_equity_parquet_bytes_do_not_depend_on_the_write_batch(
    long: BacktestResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Parquet writer's batches of ``WRITE_BATCH_ROWS`` values give the bytes of
    Arrow's default batches of 1,024 (a curve longer than one batch)."""
    assert long.equity.height > artifacts.WRITE_BATCH_ROWS
    data = artifacts._parquet(long.equity)
    monkeypatch.setattr(artifacts, "WRITE_BATCH_ROWS", 1024)
    assert artifacts._parquet(long.equity) == data


def _outcome_inputs() -> Any:
    from decimal import Decimal

    from worker.engine.api import parse_run
    from worker.pipeline.inputs import RunInputs, RunOptions
    from worker.queue.handler import RunJob

    spec = parse_run(
        {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}, {}, initial_capital=10_000
    )
    job = RunJob(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "backtest", Decimal(10_000), {}, 1, 1, "w"
    )
    return RunInputs(
        job, spec, RunOptions(), "synthetic", "0" * 64, "", "1m", ("AAA",), "sma_crossover", "1.0.0"
    )


def _where(monkeypatch: pytest.MonkeyPatch, result: BacktestResult, mode: str) -> None:
    """The run's files: GIL-free ones aside, all deferred, or all on the run's thread."""
    height = result.equity.height
    monkeypatch.setattr(artifacts, "ASIDE_ROWS", 1 if mode == "aside" else height + 1)
    monkeypatch.setattr(artifacts, "DEFER_ROWS", height + 1 if mode == "here" else 1)
    assert artifacts.renders_aside(result) is (mode == "aside")
    assert artifacts.defers_files(result) is (mode == "defer")


@pytest.mark.parametrize("mode", ["aside", "defer"])
def test_outcome_is_the_same_with_the_work_beside_the_reports_or_not(
    long: BacktestResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """``outcome_of`` with the Parquet file, the CSVs and the trade events on side threads
    (a curve of ``ASIDE_ROWS`` bars or more), with every file on a side thread (shorter
    ones) and all on the run's thread: the same files, bytes, order and event rows."""
    from worker.pipeline.store import outcome_of

    inputs = _outcome_inputs()
    _where(monkeypatch, long, mode)
    got = outcome_of(inputs, long, FileStore(str(tmp_path / "here")))
    _where(monkeypatch, long, "here")
    other = outcome_of(inputs, long, FileStore(str(tmp_path / "other")))
    assert got.events_csv == other.events_csv
    assert got.events_csv.startswith(_events_by_python_lines(inputs.job.id, long.trades))
    # Aside or deferred, the files are pending (the final transaction waits for them), in
    # catalogue order; on the run's thread, they are stored when the outcome is returned.
    assert got.pending_artifacts and not got.artifacts
    assert other.artifacts and not other.pending_artifacts
    rows = [f.result() for f in got.pending_artifacts]
    assert [(a.filename, a.sha256, a.size_bytes) for a in rows] == [
        (a.filename, a.sha256, a.size_bytes) for a in other.artifacts
    ]
    for a in rows:
        assert hashlib.sha256(Path(a.storage_path).read_bytes()).hexdigest() == a.sha256


def test_a_deferred_file_that_cannot_be_stored_fails_every_pending_file(
    long: BacktestResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's root is a file: writing under it fails, and so does each file's future
    (the completer then ends the run as that error says)."""
    from worker.pipeline.store import outcome_of

    _where(monkeypatch, long, "defer")
    root = tmp_path / "not-a-directory"
    root.write_bytes(b"")
    outcome = outcome_of(_outcome_inputs(), long, FileStore(str(root)))
    assert outcome.pending_artifacts
    for future in outcome.pending_artifacts:
        assert isinstance(future.exception(timeout=60), OSError)


@pytest.mark.parametrize("bars", [10_001, 12_345, 200_003])
def test_extreme_rows_are_the_sorted_unique_picks(bars: int) -> None:
    """The picks deduplicated by sorting: what ``np.unique`` of them returned."""
    import numpy as np

    from worker.results.chart_data import CURVE_BUCKETS, extreme_rows

    rng = np.random.default_rng(bars)
    equity = np.cumsum(rng.normal(size=bars)) + 1e4
    drawdown = rng.random(bars) - 1
    size = -(-bars // CURVE_BUCKETS)
    full = (bars // size) * size
    picks = [
        np.arange(0, bars, size),
        np.minimum(np.arange(size - 1, bars + size - 1, size), bars - 1),
    ]
    for values, pick in ((equity, np.argmax), (equity, np.argmin), (drawdown, np.argmin)):
        picks.append(pick(values[:full].reshape(-1, size), axis=1) + np.arange(0, full, size))
        if full < bars:
            picks.append(np.array([full + int(pick(values[full:]))]))
    rows = extreme_rows(equity, drawdown)
    assert rows.dtype == np.int64
    assert np.array_equal(rows, np.unique(np.concatenate(picks)))
