"""Real runs end to end: a worker process with the real engine, datasets on disk, artifacts,
events and metrics in the database, and every kind of bad input failing with a clear error."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.queue.helpers import WorkerProcess, event_types
from worker.engine.bars import canonical_hash, write_canonical_parquet
from worker.engine.synthetic import generate_bars

HANDLER = "worker.pipeline.runner:execute_run"


async def add_dataset(
    conn: asyncpg.Connection,
    directory: Path,
    seed: int = 1,
    *,
    symbols: tuple[str, ...] = ("AAA", "BBB"),
    n_bars: int = 400,
    timeframe: str = "1d",
) -> uuid.UUID:
    bars = generate_bars(symbols=symbols, n_bars=n_bars, timeframe=timeframe, seed=seed)
    content_hash = canonical_hash(bars)
    directory.mkdir(parents=True, exist_ok=True)
    path = write_canonical_parquet(bars, directory / f"{content_hash}.parquet")
    return await conn.fetchval(  # type: ignore[no-any-return]
        """
        INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,
                              storage_uri, hash)
        VALUES ('synthetic', $1, $2, $3, $4, $5, $6, $7) RETURNING id
        """,
        list(symbols),
        timeframe,
        bars["timestamp"].min(),
        bars["timestamp"].max(),
        bars.height,
        str(path),
        content_hash,
    )


async def add_strategy(conn: asyncpg.Connection, params: dict[str, Any]) -> uuid.UUID:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO strategies (name, version, params) VALUES ($1, '1.0.0', $2::text::jsonb) RETURNING id",
        f"s-{uuid.uuid4().hex[:8]}",
        json.dumps(params),
    )


async def add_run(
    conn: asyncpg.Connection,
    dataset_id: uuid.UUID,
    strategy_id: uuid.UUID,
    config: dict[str, Any] | None = None,
    mode: str = "backtest",
) -> uuid.UUID:
    return await conn.fetchval(  # type: ignore[no-any-return]
        """
        INSERT INTO runs (dataset_id, strategy_id, initial_capital, config, mode)
        VALUES ($1, $2, 10000, $3::text::jsonb, $4::run_mode) RETURNING id
        """,
        dataset_id,
        strategy_id,
        json.dumps(config or {}),
        mode,
    )


async def drain(database_url: str, tmp_path: Path) -> WorkerProcess:
    worker = WorkerProcess(
        database_url,
        tmp_path / "logs",
        "--burst",
        handler=HANDLER,
        artifact_dir=tmp_path / "artifacts",
        data_dir=tmp_path / "data",
        worker_concurrency=2,
    )
    code = await worker.wait(within=180)
    assert code == 0, worker.log_text()[-3000:]
    return worker


SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}


async def test_a_run_succeeds_with_metrics_artifacts_and_events(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    run_id = await add_run(conn, dataset_id, strategy_id, {"commission": 0.001})
    twin_id = await add_run(conn, dataset_id, strategy_id, {"commission": 0.001})
    await drain(database_url, tmp_path)

    run = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded", run["error"]
    assert run["total_trades"] == run["winning_trades"] + run["losing_trades"] > 0
    assert run["max_drawdown"] <= 0 and run["final_value"] > 0
    metrics = json.loads(run["metrics"])
    assert {"sortino_ratio", "cagr", "volatility", "profit_factor", "exposure"} <= set(metrics)
    metadata = json.loads(run["metadata"])
    assert metadata["dataset_hash"] == await conn.fetchval(
        "SELECT hash FROM datasets WHERE id = $1", dataset_id
    )
    assert metadata["engine_version"] and metadata["resolved_config"]["commission"] == 0.001

    artifacts = await conn.fetch("SELECT * FROM artifacts WHERE run_id = $1", run_id)
    assert {a["filename"] for a in artifacts} == {  # the default artifacts of a single run
        "equity.parquet",
        "trades.csv",
        "report.json",
        "report.html",
    }
    for artifact in artifacts:
        data = Path(artifact["storage_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact["sha256"]
        assert len(data) == artifact["size_bytes"]

    counts = dict(
        await conn.fetch(
            "SELECT event_type, count(*) FROM events WHERE run_id = $1 GROUP BY 1", run_id
        )
    )
    assert counts["trade_entry"] == counts["trade_exit"] == run["total_trades"]
    assert counts["claimed"] == counts["completed"] == counts["metrics"] == 1
    assert await conn.fetchval("SELECT progress->>'run_id' FROM runs WHERE id = $1", run_id)

    twin = await conn.fetchrow("SELECT metrics FROM runs WHERE id = $1", twin_id)
    assert json.loads(twin["metrics"]) == metrics, "same inputs must give the same numbers"


async def test_a_grid_run_reports_a_leaderboard(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    grid = {"fast_period": [5, 10, 20], "slow_period": [30, 60]}
    run_id = await add_run(conn, dataset_id, strategy_id, {"grid": grid})
    await drain(database_url, tmp_path)
    run = await conn.fetchrow("SELECT status, metadata FROM runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded"
    assert json.loads(run["metadata"])["best_params"].keys() == {"fast_period", "slow_period"}
    files = await conn.fetch(
        "SELECT filename, storage_path FROM artifacts WHERE run_id = $1", run_id
    )
    leaderboard = next(f for f in files if f["filename"] == "leaderboard.csv")
    assert len(Path(leaderboard["storage_path"]).read_text().splitlines()) == 1 + 6


async def test_a_benchmark_symbol_is_loaded_held_and_reported(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    config = {"symbols": ["AAA"], "benchmark": "BBB", "risk_free_rate": 0.02}
    run_id = await add_run(conn, dataset_id, strategy_id, config)
    unknown_id = await add_run(conn, dataset_id, strategy_id, {"benchmark": "ZZZ"})
    await drain(database_url, tmp_path)

    run = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
    assert run["status"] == "succeeded", run["error"]
    metrics = json.loads(run["metrics"])
    bars = generate_bars(symbols=["AAA", "BBB"], n_bars=400, seed=1)
    close = bars.filter(bars["symbol"] == "BBB")["close"].to_list()
    assert metrics["benchmark_return"] == pytest.approx(close[-1] / close[0] - 1)
    assert metrics["beta"] is not None and metrics["sqn"] is not None
    resolved = json.loads(run["metadata"])["resolved_config"]
    assert resolved["symbols"] == ["AAA"] and resolved["benchmark"] == "BBB"
    report = next(
        a
        for a in await conn.fetch("SELECT * FROM artifacts WHERE run_id = $1", run_id)
        if a["filename"] == "report.json"
    )
    assert json.loads(Path(report["storage_path"]).read_text())["metrics"] == metrics

    failed = await conn.fetchrow("SELECT status, error FROM runs WHERE id = $1", unknown_id)
    assert failed["status"] == "failed"
    error = json.loads(failed["error"])
    assert error["type"] == "unknown_symbol" and "ZZZ" in error["message"]


async def test_a_run_writes_the_artifacts_it_asks_for_and_its_label(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    chosen = await add_run(
        conn,
        dataset_id,
        strategy_id,
        {
            "artifacts": ["report_html", "equity_png"],
            "label": "Q3 <review>",
            "notes": "before the rebalance",
            "tags": ["desk-a", "sma"],
        },
    )
    bare = await add_run(conn, dataset_id, strategy_id, {"artifacts": []})
    await drain(database_url, tmp_path)
    files = await conn.fetch(
        "SELECT filename, storage_path FROM artifacts WHERE run_id = $1", chosen
    )
    assert {f["filename"] for f in files} == {"report.html", "equity.png"}
    report = Path(next(f["storage_path"] for f in files if f["filename"] == "report.html"))
    html = report.read_text()
    assert "Q3 &lt;review&gt;" in html and "Q3 <review>" not in html
    assert "before the rebalance" in html and "desk-a" in html
    # No files, but the run is whole: metrics, trade events and the metrics event.
    row = await conn.fetchrow("SELECT status, total_trades FROM runs WHERE id = $1", bare)
    assert row["status"] == "succeeded"
    assert await conn.fetchval("SELECT count(*) FROM artifacts WHERE run_id = $1", bare) == 0
    types = await event_types(conn, bare)
    assert "metrics" in types and types.count("trade_exit") == row["total_trades"]


@pytest.mark.parametrize(
    ("case", "error_type", "words"),
    [
        ("bad_override", "invalid_params", "fast_period must be less than slow_period"),
        ("unknown_kind", "unknown_strategy", "turtle_soup"),
        ("bad_config", "invalid_config", "commision"),
        ("missing_file", "dataset_missing", "does not exist"),
        ("corrupt_file", "dataset_corrupt", "does not match its recorded hash"),
        ("paper_mode", "unsupported_mode", "paper"),
        ("empty_window", "empty_window", "no bars"),
        ("symbol_and_empty_window", "empty_window", "no bars"),
        ("unknown_symbol", "unknown_symbol", "the dataset has AAA, BBB"),
        ("rejected_worker_key", "invalid_config", "plots: unknown key"),
        ("bad_worker_key", "invalid_config", "timeout_seconds"),
        ("unknown_artifact", "invalid_config", "unknown artifact(s) equity_gif"),
    ],
)
async def test_bad_input_fails_at_once_with_an_actionable_error(
    database_url: str,
    conn: asyncpg.Connection,
    tmp_path: Path,
    case: str,
    error_type: str,
    words: str,
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    config: dict[str, Any] = {}
    mode = "backtest"
    if case == "bad_override":
        config = {"params": {"fast_period": 80}}
    elif case == "unknown_kind":
        strategy_id = await add_strategy(conn, {"kind": "turtle_soup"})
    elif case == "bad_config":
        config = {"commision": 0.001}
    elif case == "missing_file":
        await conn.execute(
            "UPDATE datasets SET storage_uri = $1", str(tmp_path / "data" / "gone.parquet")
        )
    elif case == "corrupt_file":
        path = await conn.fetchval("SELECT storage_uri FROM datasets")
        other = generate_bars(symbols=["AAA", "BBB"], n_bars=400, seed=99)
        write_canonical_parquet(other, path)
    elif case == "paper_mode":
        mode = "paper"
    elif case == "empty_window":
        config = {"start": "2100-01-01", "end": "2100-12-31"}
    elif case == "symbol_and_empty_window":
        config = {"symbols": ["AAA"], "start": "2100-01-01"}
    elif case == "unknown_symbol":
        config = {"symbols": ["ZZZ"]}
    elif case == "rejected_worker_key":
        config = {"plots": True}
    elif case == "unknown_artifact":
        config = {"artifacts": ["report_html", "equity_gif"]}
    elif case == "bad_worker_key":
        config = {"timeout_seconds": "soon", "label": "x"}
    run_id = await add_run(conn, dataset_id, strategy_id, config, mode)
    good_id = await add_run(conn, dataset_id, await add_strategy(conn, {"kind": "buy_and_hold"}))
    await drain(database_url, tmp_path)

    run = await conn.fetchrow("SELECT status, attempts, error FROM runs WHERE id = $1", run_id)
    error = json.loads(run["error"])
    assert run["status"] == "failed" and run["attempts"] == 1
    assert error["type"] == error_type, error
    assert words in error["message"], error["message"]
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM events WHERE run_id = $1 AND event_type = 'error'", run_id
        )
        == 1
    )
    if case not in ("missing_file", "corrupt_file"):
        assert (
            await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", good_id)
            == "succeeded"
        )
