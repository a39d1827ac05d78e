"""Relative dataset locations: under DATA_DIR first, still confined, old rows still found."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.pipeline.roots import DatasetRoots, Local, Remote
from worker.queue.handler import PermanentRunError


def test_a_relative_uri_is_under_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    roots = DatasetRoots((str(data),))
    assert roots.locate("abc.parquet") == Local((data / "abc.parquet").resolve())
    remote = DatasetRoots(("s3://bucket/datasets",))
    assert remote.locate("abc.parquet") == Remote("s3://bucket/datasets/abc.parquet")


def test_a_relative_uri_cannot_escape(tmp_path: Path) -> None:
    roots = DatasetRoots((str(tmp_path / "data"),))
    with pytest.raises(PermanentRunError) as caught:
        roots.locate("../secret.parquet")
    assert caught.value.type == "dataset_forbidden"


def test_a_row_relative_to_the_working_directory_is_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written as `data/<hash>.parquet` (relative to the worker's directory, where
    DATA_DIR=data) keep working."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "old.parquet").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    roots = DatasetRoots(("data",))
    assert roots.locate("data/old.parquet") == Local(tmp_path.resolve() / "data" / "old.parquet")
    assert roots.locate("old.parquet") == Local(tmp_path.resolve() / "data" / "old.parquet")
