"""`dataset import` refuses or reports what would silently skew every figure later:
a timeframe that contradicts the bars, ambiguous dates, a missing volume column, the same
content under another name, a moved DATA_DIR; and `dataset sample` draws trading days."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import polars as pl

from tests.queue.helpers import BIN, ROOT, worker_env
from worker.engine.synthetic import generate_bars
from worker.pipeline.load import DatasetLoader
from worker.pipeline.roots import DatasetRoots


def cli(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(database_url, data_dir=data_dir, artifact_dir=data_dir.parent / "artifacts")
    return subprocess.run(
        [str(BIN), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def imported_id(done: subprocess.CompletedProcess[str]) -> uuid.UUID:
    assert done.returncode == 0, done.stderr
    return uuid.UUID(done.stdout.strip().splitlines()[-1])


def one_line(text: str) -> str:
    return " ".join(text.split())


async def test_a_timeframe_that_contradicts_the_bars_is_refused_unless_forced(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "daily.csv"
    generate_bars(symbols=["AAA"], n_bars=300, seed=1).write_csv(path)
    data = tmp_path / "data"
    refused = cli(
        database_url, data, "dataset", "import", str(path), "--name", "d", "--timeframe", "1h"
    )
    assert refused.returncode != 0
    message = one_line(refused.stderr)
    assert "--timeframe 1h contradicts the bars" in message and "spacing is 1d" in message
    assert await conn.fetchval("SELECT count(*) FROM datasets") == 0
    agreeing = cli(
        database_url, data, "dataset", "import", str(path), "--name", "d", "--timeframe", "24h"
    )
    assert agreeing.returncode == 0, agreeing.stderr  # same bar length, other spelling
    await conn.execute("DELETE FROM datasets")
    forced = cli(
        database_url,
        data,
        "dataset",
        "import",
        str(path),
        "--name",
        "d",
        "--timeframe",
        "1h",
        "--force",
    )
    dataset_id = imported_id(forced)
    row = await conn.fetchrow(
        "SELECT timeframe, description FROM datasets WHERE id = $1", dataset_id
    )
    assert row["timeframe"] == "1h"
    assert "--force: timeframe 1h, the bars' spacing is 1d" in row["description"]
    assert "--force" in one_line(forced.stderr)


async def test_ambiguous_day_first_dates_need_a_date_format(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    days = [f"{d:02d}/01/2015" for d in (2, 5, 6, 7, 8, 9, 12)]  # 2 January ... 12 January
    frame = pl.DataFrame(
        {
            "Date": days,
            "Open": [10.0] * 7,
            "High": [11.0] * 7,
            "Low": [9.0] * 7,
            "Close": [10.5] * 7,
            "Volume": [100.0] * 7,
        }
    )
    frame.write_csv(tmp_path / "eu.csv")
    data = tmp_path / "data"
    args = ("dataset", "import", str(tmp_path / "eu.csv"), "--name", "eu", "--symbol", "EU")
    refused = cli(database_url, data, *args)
    assert refused.returncode != 0
    message = one_line(refused.stderr)
    assert "'02/01/2015' read both month-first and day-first" in message
    assert "--date-format %d/%m/%Y" in message
    assert await conn.fetchval("SELECT count(*) FROM datasets") == 0
    dataset_id = imported_id(cli(database_url, data, *args, "--date-format", "%d/%m/%Y"))
    row = await conn.fetchrow("SELECT start_date, end_date FROM datasets WHERE id = $1", dataset_id)
    assert row["start_date"] == datetime(2015, 1, 2, tzinfo=UTC)
    assert row["end_date"] == datetime(2015, 1, 12, tzinfo=UTC)
    day_first_only = frame.with_columns(pl.col("Date").str.replace("^02/", "13/"))
    day_first_only.write_csv(tmp_path / "eu13.csv")  # 13/01 has one reading: no flag needed
    plain = cli(
        database_url,
        data,
        "dataset",
        "import",
        str(tmp_path / "eu13.csv"),
        "--name",
        "eu13",
        "--symbol",
        "EU",
    )
    start = await conn.fetchval("SELECT start_date FROM datasets WHERE id = $1", imported_id(plain))
    assert start == datetime(2015, 1, 5, tzinfo=UTC)


async def test_a_missing_volume_column_is_said_in_the_output_and_the_description(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    generate_bars(symbols=["AAA"], n_bars=30, seed=2).drop("volume").write_csv(tmp_path / "nv.csv")
    done = cli(
        database_url,
        tmp_path / "data",
        "dataset",
        "import",
        str(tmp_path / "nv.csv"),
        "--name",
        "nv",
    )
    dataset_id = imported_id(done)
    assert "no volume column: volume is 0 on every bar" in one_line(done.stderr)
    description = await conn.fetchval("SELECT description FROM datasets WHERE id = $1", dataset_id)
    assert description == "the file has no volume column: volume is 0 on every bar"


async def test_same_content_under_another_name_says_which_dataset_it_is(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "bars.csv"
    generate_bars(symbols=["AAA"], n_bars=40, seed=3).write_csv(path)
    data = tmp_path / "data"
    first = imported_id(cli(database_url, data, "dataset", "import", str(path), "--name", "first"))
    again = cli(database_url, data, "dataset", "import", str(path), "--name", "second")
    assert imported_id(again) == first
    assert f"already exists as dataset {first} ('first')" in one_line(again.stderr)
    assert await conn.fetchval("SELECT name FROM datasets") == "first"


async def test_import_again_after_moving_data_dir_repairs_the_location(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "bars.csv"
    bars = generate_bars(symbols=["AAA"], n_bars=40, seed=4)
    bars.write_csv(path)
    old_dir, new_dir = tmp_path / "old-data", tmp_path / "new-data"
    dataset_id = imported_id(
        cli(database_url, old_dir, "dataset", "import", str(path), "--name", "x")
    )
    row = await conn.fetchrow("SELECT storage_uri, hash FROM datasets")
    assert row["storage_uri"] == f"{row['hash']}.parquet"  # relative to DATA_DIR
    # a row as older versions (or Node) wrote it: an absolute path under the old DATA_DIR
    await conn.execute("UPDATE datasets SET storage_uri = $1", str(old_dir / row["storage_uri"]))
    old_dir.rename(tmp_path / "gone")
    again = cli(database_url, new_dir, "dataset", "import", str(path), "--name", "x")
    assert imported_id(again) == dataset_id
    uri = await conn.fetchval("SELECT storage_uri FROM datasets")
    assert uri == f"{row['hash']}.parquet"
    loaded = DatasetLoader(str(tmp_path / "cache"), DatasetRoots((str(new_dir),))).load(
        uri, row["hash"]
    )
    assert loaded.height == 40
    # moving DATA_DIR again needs no re-import: the relative location moves with it
    new_dir.rename(tmp_path / "moved")
    roots = DatasetRoots((str(tmp_path / "moved"),))
    assert DatasetLoader(str(tmp_path / "cache2"), roots).load(uri, row["hash"]).height == 40


def test_daily_sample_bars_fall_on_weekdays_and_ten_years_span_ten_years(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(BIN),
            "dataset",
            "sample",
            str(tmp_path / "s.csv"),
            "--symbols",
            "AAA",
            "--bars",
            "2520",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=worker_env("postgresql://unused@127.0.0.1:1/none"),
    )
    assert done.returncode == 0, done.stderr
    stamps = pl.read_csv(tmp_path / "s.csv", try_parse_dates=True)["timestamp"]
    assert stamps.dt.weekday().max() <= 5  # Monday = 1 ... Friday = 5
    years = (stamps.max() - stamps.min()).days / 365.25
    assert 9.5 < years < 10.0  # 2,520 weekdays; with weekends it was 6.9 years
