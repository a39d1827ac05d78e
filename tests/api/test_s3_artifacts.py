"""ARTIFACT_DIR=s3://…: the API streams a run's files from S3-compatible storage (moto's
server) with their size and ETag, and serves nothing outside the run's prefix."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import asyncpg
import httpx

from tests.api.server import ApiServer, add_key, bearer
from tests.e2e.test_backtest_runs import SMA, add_dataset, add_run, add_strategy
from tests.e2e.test_object_storage import s3  # noqa: F401  (the fixture)
from tests.queue.helpers import WorkerProcess


async def test_artifacts_stream_from_s3(
    database_url: str,
    conn: asyncpg.Connection,
    tmp_path: Path,
    s3: str,  # noqa: F811
) -> None:
    import boto3

    root = f"s3://{s3}/backtests"
    run_id = await add_run(
        conn, await add_dataset(conn, tmp_path / "data"), await add_strategy(conn, SMA)
    )
    worker = WorkerProcess(
        database_url,
        tmp_path / "logs",
        "--burst",
        handler="worker.pipeline.runner:execute_run",
        data_dir=tmp_path / "data",
        artifact_dir=root,
    )
    assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]
    boto3.client("s3").put_object(Bucket=s3, Key="elsewhere/secret.txt", Body=b"not yours")
    await conn.execute(
        """
        INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes, sha256)
        VALUES ($1, 'csv', 'evil.csv', $2, 'text/csv', 9, $3)
        """,
        run_id,
        f"s3://{s3}/backtests/{run_id}/../../elsewhere/secret.txt",
        hashlib.sha256(b"not yours").hexdigest(),
    )
    api = ApiServer(database_url, tmp_path, artifact_dir=root)
    try:
        await api.ready()
        secret = await add_key(conn, "read")
        async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as http:
            listed = (await http.get(f"/api/v1/runs/{run_id}/artifacts")).json()
            served = [a for a in listed if a["filename"] != "evil.csv"]
            assert "report.html" in {a["filename"] for a in served} and len(served) >= 4
            for artifact in served:
                response = await http.get(artifact["download"])
                assert response.status_code == 200, response.text
                assert hashlib.sha256(response.content).hexdigest() == artifact["sha256"]
                assert int(response.headers["content-length"]) == artifact["size_bytes"]
                assert response.headers["content-type"] == artifact["mime_type"]
            refused = await http.get(f"/api/v1/runs/{run_id}/artifacts/evil.csv")
            assert refused.status_code == 404 and b"not yours" not in refused.content
            missing = await http.get(f"/api/v1/runs/{uuid.uuid4()}/artifacts/report.html")
            assert missing.status_code == 404
    finally:
        api.stop()
