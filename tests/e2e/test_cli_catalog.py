"""The CLI as a user runs it: dataset import and strategy registration against a real database."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import asyncpg
import polars as pl

from tests.queue.helpers import BIN, ROOT, worker_env
from worker.engine.synthetic import generate_bars


def cli(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(database_url, data_dir=tmp_path / "data", artifact_dir=tmp_path / "artifacts")
    return subprocess.run(
        [str(BIN), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def write_bars(path: Path, **kwargs: object) -> Path:
    generate_bars(**kwargs).write_csv(path)  # type: ignore[arg-type]
    return path


async def test_import_prints_the_id_last_and_is_idempotent(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    bars = write_bars(tmp_path / "bars.csv", symbols=["AAA", "BBB"], n_bars=300, seed=1)
    first = cli(
        database_url, tmp_path, "dataset", "import", str(bars), "--name", "two", "--timeframe", "1d"
    )
    assert first.returncode == 0, first.stderr
    dataset_id = uuid.UUID(first.stdout.strip().splitlines()[-1])
    again = cli(database_url, tmp_path, "dataset", "import", str(bars), "--name", "two again")
    assert again.returncode == 0, again.stderr
    assert uuid.UUID(again.stdout.strip().splitlines()[-1]) == dataset_id
    row = await conn.fetchrow("SELECT * FROM datasets WHERE id = $1", dataset_id)
    assert row["symbols"] == ["AAA", "BBB"] and row["row_count"] == 600
    assert row["timeframe"] == "1d" and len(row["hash"]) == 64
    assert row["storage_uri"] == f"{row['hash']}.parquet"  # relative to DATA_DIR
    stored = pl.read_parquet(tmp_path / "data" / row["storage_uri"])
    assert stored.height == 600 and stored["symbol"].is_sorted()
    assert await conn.fetchval("SELECT count(*) FROM datasets") == 1


async def test_import_takes_common_spellings_and_a_symbol_option(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    frame = generate_bars(symbols=["X"], n_bars=50, seed=2).drop("symbol")
    frame = frame.rename({c: c.capitalize() for c in frame.columns}).rename({"Timestamp": "Date"})
    frame.write_csv(tmp_path / "msft.csv")
    done = cli(
        database_url,
        tmp_path,
        "dataset",
        "import",
        str(tmp_path / "msft.csv"),
        "--name",
        "msft",
        "--symbol",
        "msft",
    )
    assert done.returncode == 0, done.stderr
    dataset_id = uuid.UUID(done.stdout.strip().splitlines()[-1])
    assert await conn.fetchval("SELECT symbols FROM datasets WHERE id = $1", dataset_id) == ["MSFT"]


def test_a_bad_file_is_one_clear_line_naming_row_and_rule(
    database_url: str, tmp_path: Path
) -> None:
    bars = generate_bars(symbols=["AAA"], n_bars=20, seed=3)
    broken = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 4).then(-1.0).otherwise(pl.col("close")).alias("close")
    )
    broken.write_csv(tmp_path / "broken.csv")
    done = cli(
        database_url, tmp_path, "dataset", "import", str(tmp_path / "broken.csv"), "--name", "x"
    )
    assert done.returncode == 1
    assert "row 5" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error:")
    missing = cli(
        database_url, tmp_path, "dataset", "import", str(tmp_path / "nope.csv"), "--name", "x"
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_strategy_params_are_validated_before_they_are_stored(
    database_url: str, tmp_path: Path
) -> None:
    bad = cli(
        database_url,
        tmp_path,
        "strategy",
        "create",
        "--name",
        "sma",
        "--params",
        '{"kind": "sma_crossover", "fast_period": 50, "slow_period": 10}',
    )
    assert bad.returncode != 0
    assert "fast_period must be less than slow_period" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = cli(
        database_url,
        tmp_path,
        "strategy",
        "create",
        "--name",
        "sma",
        "--params",
        '{"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}',
    )
    assert good.returncode == 0, good.stderr
    uuid.UUID(good.stdout.strip().splitlines()[-1])
    wrong_version = cli(
        database_url,
        tmp_path,
        "strategy",
        "create",
        "--name",
        "s",
        "--version",
        "1.0",
        "--params",
        '{"kind": "buy_and_hold"}',
    )
    assert wrong_version.returncode == 2 and "is not a semantic version" in wrong_version.stderr


def test_without_a_database_the_error_says_what_to_do(tmp_path: Path) -> None:
    done = cli("postgresql://nobody@127.0.0.1:1/none", tmp_path, "runs", "list")
    assert done.returncode == 1
    assert "cannot reach PostgreSQL" in done.stderr and "Traceback" not in done.stderr


async def test_enqueue_show_cancel_and_prune_from_the_command_line(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    bars = write_bars(tmp_path / "bars.csv", symbols=["AAA"], n_bars=200, seed=4)
    dataset_id = cli(database_url, tmp_path, "dataset", "import", str(bars), "--name", "d")
    strategy_id = cli(
        database_url,
        tmp_path,
        "strategy",
        "create",
        "--name",
        "bh",
        "--params",
        '{"kind": "buy_and_hold"}',
    )
    dataset, strategy = (p.stdout.strip().splitlines()[-1] for p in (dataset_id, strategy_id))
    enqueued = cli(
        database_url, tmp_path, "enqueue", "--dataset", dataset, "--strategy", strategy,
        "--config", '{"commission": 0.001}', "--priority", "5",
    )  # fmt: skip
    assert enqueued.returncode == 0, enqueued.stderr
    run_id = uuid.UUID(enqueued.stdout.strip().splitlines()[-1])
    row = await conn.fetchrow(
        "SELECT priority, config, status::text FROM runs WHERE id = $1", run_id
    )
    assert (row["priority"], row["status"]) == (5, "pending")

    shown = cli(database_url, tmp_path, "runs", "show", str(run_id), "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"status": "pending"' in shown.stdout

    cancelled = cli(database_url, tmp_path, "cancel", str(run_id))
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == "cancelled"
    listed = cli(database_url, tmp_path, "runs", "list", "--status", "cancelled")
    assert str(run_id)[:8] in listed.stdout

    missing = cli(database_url, tmp_path, "runs", "show", str(uuid.uuid4()))
    assert missing.returncode == 1 and "no run with id" in missing.stderr
    too_short = cli(database_url, tmp_path, "cancel", "12")
    assert too_short.returncode == 2 and "is too short" in too_short.stderr
    not_uuid = cli(database_url, tmp_path, "cancel", "run-12")
    assert not_uuid.returncode == 2 and "is not a UUID" in not_uuid.stderr
    bad_dataset = cli(
        database_url, tmp_path, "enqueue", "--dataset", str(uuid.uuid4()), "--strategy", strategy
    )
    assert bad_dataset.returncode == 1 and "no dataset with id" in bad_dataset.stderr

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    dry = cli(database_url, tmp_path, "prune", "--before", tomorrow, "--dry-run")
    assert dry.returncode == 0 and "would delete 1 runs" in dry.stdout
    pruned = cli(database_url, tmp_path, "prune", "--before", tomorrow)
    assert pruned.returncode == 0 and "deleted 1 runs" in pruned.stdout
    assert await conn.fetchval("SELECT count(*) FROM runs") == 0


async def test_prune_removes_every_attempts_files_and_nothing_a_row_names_elsewhere(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    from tests.e2e.test_backtest_runs import SMA, add_dataset, add_run, add_strategy, drain

    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    done = await add_run(conn, dataset_id, strategy_id)
    await drain(database_url, tmp_path)
    waiting = await add_run(conn, dataset_id, strategy_id)
    paths = [r["storage_path"] for r in await conn.fetch("SELECT storage_path FROM artifacts")]
    assert paths and all(Path(p).exists() for p in paths)
    # An attempt that lost its lease leaves files without rows; a row may name any path.
    run_dir = tmp_path / "artifacts" / str(done)
    lost = run_dir / "attempt-2" / "report.html"
    lost.parent.mkdir(parents=True)
    lost.write_text("from an attempt that lost its lease")
    precious = tmp_path / "precious.txt"
    precious.write_text("not the worker's")
    await conn.execute(
        "INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes,"
        " sha256) VALUES ($1, 'json', 'x.json', $2, 'application/json', 1, repeat('0', 64))",
        done,
        str(precious),
    )
    pruned = cli(database_url, tmp_path, "prune", "--before", "2999-01-01")
    assert pruned.returncode == 0, pruned.stderr
    assert f"deleted 1 runs and {len(paths) + 1} artifact files" in pruned.stdout
    assert not any(Path(p).exists() for p in paths)
    assert not run_dir.exists(), "the run's folder (every attempt's files) must go"
    assert precious.exists(), "prune deleted a file outside ARTIFACT_DIR that a row named"
    assert await conn.fetchval("SELECT count(*) FROM runs WHERE id = $1", done) == 0
    assert await conn.fetchval("SELECT count(*) FROM events WHERE run_id = $1", done) == 0
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", waiting) == "pending"
