"""ARTIFACT_DIR=s3://…: a real worker stores a run's files in S3-compatible storage (moto's
server), and the artifact rows point at them."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.test_backtest_runs import SMA, add_dataset, add_run, add_strategy
from tests.queue.helpers import WorkerProcess


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }.items():
        monkeypatch.setenv(key, value)
    bucket = f"bt-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    yield bucket
    server.stop()


async def test_artifacts_land_in_s3(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path, s3: str
) -> None:
    import boto3

    dataset_id = await add_dataset(conn, tmp_path / "data")
    run_id = await add_run(conn, dataset_id, await add_strategy(conn, SMA))
    worker = WorkerProcess(
        database_url,
        tmp_path / "logs",
        "--burst",
        handler="worker.pipeline.runner:execute_run",
        artifact_dir=f"s3://{s3}/backtests",
        data_dir=tmp_path / "data",
    )
    assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id) == "succeeded"
    rows = await conn.fetch("SELECT * FROM artifacts WHERE run_id = $1", run_id)
    assert {r["filename"] for r in rows} == {  # the defaults of a single run
        "report.html",
        "report.json",
        "trades.csv",
        "equity.parquet",
    }
    client = boto3.client("s3")
    for row in rows:
        assert row["storage_path"].startswith(f"s3://{s3}/backtests/{run_id}/attempt-1/")
        key = row["storage_path"].removeprefix(f"s3://{s3}/")
        body = client.get_object(Bucket=s3, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == row["sha256"]
        assert len(body) == row["size_bytes"]


async def test_a_dataset_in_s3_is_fetched_once_verified_and_run(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path, s3: str
) -> None:
    from tests.e2e.test_cli_catalog import write_bars
    from tests.queue.helpers import BIN, ROOT, worker_env

    bars = write_bars(tmp_path / "bars.csv", symbols=["AAA", "BBB"], n_bars=300, seed=5)
    env = worker_env(database_url, data_dir=f"s3://{s3}/datasets")
    imported = subprocess.run(
        [str(BIN), "dataset", "import", str(bars), "--name", "in s3", "--timeframe", "1d"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    dataset_id = uuid.UUID(imported.stdout.strip().splitlines()[-1])
    uri, content_hash = await conn.fetchrow(
        "SELECT storage_uri, hash FROM datasets WHERE id = $1", dataset_id
    )
    assert uri == f"s3://{s3}/datasets/{content_hash}.parquet"

    run_id = await add_run(conn, dataset_id, await add_strategy(conn, SMA))
    worker = WorkerProcess(
        database_url,
        tmp_path / "logs",
        "--burst",
        handler="worker.pipeline.runner:execute_run",
        artifact_dir=tmp_path / "artifacts",
        dataset_cache_dir=tmp_path / "cache",
        dataset_roots=f"s3://{s3}/datasets",
    )
    assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]
    row = await conn.fetchrow("SELECT status::text, error FROM runs WHERE id = $1", run_id)
    assert row["status"] == "succeeded", row["error"]
    assert (tmp_path / "cache" / f"{content_hash}.parquet").exists()


async def test_a_corrupt_cached_copy_is_evicted_and_a_repaired_object_used_again(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path, s3: str
) -> None:
    import boto3

    from worker.engine.bars import canonical_hash, write_canonical_parquet
    from worker.engine.synthetic import generate_bars

    good = generate_bars(symbols=["AAA", "BBB"], n_bars=300, seed=7)
    content_hash = canonical_hash(good)
    key = f"datasets/{content_hash}.parquet"
    good_bytes = write_canonical_parquet(good, tmp_path / "good.parquet").read_bytes()
    other = generate_bars(symbols=["AAA", "BBB"], n_bars=300, seed=8)
    bad_bytes = write_canonical_parquet(other, tmp_path / "bad.parquet").read_bytes()
    client = boto3.client("s3")
    client.put_object(Bucket=s3, Key=key, Body=bad_bytes)
    dataset_id = await conn.fetchval(
        """
        INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,
                              storage_uri, hash)
        VALUES ('s3', ARRAY['AAA', 'BBB'], '1d', '2020-01-01', '2021-12-31', 600, $1, $2)
        RETURNING id
        """,
        f"s3://{s3}/{key}",
        content_hash,
    )
    strategy_id = await add_strategy(conn, SMA)
    cache = tmp_path / "cache"

    async def drain_one() -> asyncpg.Record:
        run_id = await add_run(conn, dataset_id, strategy_id)
        worker = WorkerProcess(
            database_url,
            tmp_path / "logs",
            "--burst",
            handler="worker.pipeline.runner:execute_run",
            artifact_dir=tmp_path / "artifacts",
            dataset_cache_dir=cache,
            dataset_roots=f"s3://{s3}/datasets",
        )
        assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]
        return await conn.fetchrow("SELECT status::text, error FROM runs WHERE id = $1", run_id)

    corrupt = await drain_one()
    assert corrupt["status"] == "failed"
    assert '"dataset_corrupt"' in corrupt["error"]
    assert not (cache / f"{content_hash}.parquet").exists(), "the corrupt copy stayed cached"
    client.put_object(Bucket=s3, Key=key, Body=good_bytes)
    repaired = await drain_one()
    assert repaired["status"] == "succeeded", repaired["error"]
