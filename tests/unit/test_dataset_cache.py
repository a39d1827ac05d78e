"""A worker process verifies a dataset file once and keeps the bars it read, so the many
children of a sweep on one process read their dataset once; a file replaced in place is
verified and read again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.engine.bars import canonical_hash, write_canonical_parquet
from worker.engine.synthetic import generate_bars
from worker.pipeline import load as load_module
from worker.pipeline.load import FRAMES_KEPT, DatasetLoader
from worker.pipeline.roots import DatasetRoots
from worker.queue.handler import PermanentRunError


def test_bars_are_read_once_per_process_and_again_after_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = generate_bars(symbols=["AAA", "BBB"], n_bars=200, seed=2)
    digest = canonical_hash(bars)
    path = write_canonical_parquet(bars, tmp_path / f"{digest}.parquet")
    loader = DatasetLoader(tmp_path / "cache", DatasetRoots((str(tmp_path),)))
    reads: list[object] = []
    real = load_module.load_bars
    monkeypatch.setattr(load_module, "load_bars", lambda *a, **k: reads.append(a) or real(*a, **k))

    first = loader.load(str(path), digest, symbols=["AAA"])
    assert len(reads) == 2  # the hash check (whole file), then the run's symbols
    assert loader.load(str(path), digest, symbols=["AAA"]) is first
    assert len(reads) == 2
    other = loader.load(str(path), digest)  # another window: read, not verified again
    assert other.height == bars.height and len(reads) == 3

    for symbols in (["BBB"], None, ["AAA"]):
        loader.load(str(path), digest, symbols=symbols)
    assert len(loader._frames) == FRAMES_KEPT

    write_canonical_parquet(generate_bars(symbols=["AAA"], n_bars=50, seed=3), path)
    os.utime(path, ns=(1, 1))  # a file replaced in place: new size and mtime
    with pytest.raises(PermanentRunError) as caught:
        loader.load(str(path), digest, symbols=["AAA"])
    assert caught.value.type == "dataset_corrupt"
