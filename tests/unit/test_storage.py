"""The artifact store against a local directory and a real S3-compatible server (moto)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.storage import FileStore


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    bucket = f"bt-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


def test_local_store_writes_under_its_root(tmp_path: Path) -> None:
    store = FileStore(str(tmp_path / "artifacts"))
    stored = store.put("run-1/attempt-1/report.html", b"<html></html>")
    assert stored.uri == str(tmp_path / "artifacts" / "run-1" / "attempt-1" / "report.html")
    assert Path(stored.uri).read_bytes() == b"<html></html>"
    assert stored.size_bytes == 13
    assert stored.sha256 == hashlib.sha256(b"<html></html>").hexdigest()
    assert store.get(stored.uri) == b"<html></html>"
    store.delete_prefix("run-1")
    assert not (tmp_path / "artifacts" / "run-1").exists()
    store.delete_prefix("run-1")


@pytest.mark.parametrize("size", [0, 1, 3 * 1024 * 1024 + 7])
def test_local_files_are_replaced_whole(tmp_path: Path, size: int) -> None:
    """A file written again at the same key holds the new bytes only (truncated, not
    overwritten in place), empty and multi-megabyte ones included."""
    store = FileStore(str(tmp_path))
    store.put("run-1/attempt-1/f.bin", b"old bytes, longer than the new ones" * 1000)
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    stored = store.put("run-1/attempt-1/f.bin", data)
    assert Path(stored.uri).read_bytes() == data
    assert stored.size_bytes == size


def test_relative_root_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    stored = FileStore("artifacts").put("a/b.txt", b"x")
    assert Path(stored.uri).is_absolute() and Path(stored.uri).exists()


def test_s3_store_round_trip(s3_bucket: str) -> None:
    import boto3

    store = FileStore(f"s3://{s3_bucket}/backtests")
    stored = store.put("run-1/attempt-2/equity.png", b"\x89PNG fake")
    assert stored.uri == f"s3://{s3_bucket}/backtests/run-1/attempt-2/equity.png"
    body = boto3.client("s3").get_object(
        Bucket=s3_bucket, Key="backtests/run-1/attempt-2/equity.png"
    )
    assert body["Body"].read() == b"\x89PNG fake"
    assert store.get(stored.uri) == b"\x89PNG fake"
    store.delete_prefix("run-1")
    assert boto3.client("s3").list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
