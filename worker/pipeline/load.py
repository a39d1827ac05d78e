"""The load step: a run's bars, from a dataset file that matches its recorded content hash.

The hash is checked the first time a process uses a dataset file (a full read), then cached
for the life of the process, keyed by URI, hash and the file's size and modification time, so
a file replaced in place is checked again. The bars of the last few (file, symbols, window)
read are kept too (polars frames are immutable, so runs share them): a sweep's children on
one process read their dataset once, not once per child.

A dataset stored in object storage (`s3://…`, anything fsspec opens) is downloaded once into
the worker's local cache (`DATASET_CACHE_DIR`, named by content hash) and read from there, so
each machine fetches a dataset once and the lazy, filtered Parquet scan stays local. A copy
that turns out corrupt is evicted, so a repaired object is fetched again.

Only URIs under the worker's dataset roots are read (`roots.DatasetRoots`), and no error
carries the file's content: errors name the rule that failed and the URI.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

import fsspec
import polars as pl

from worker.bounds import clip
from worker.engine.bar_files import load_bars
from worker.engine.bars import canonical_hash
from worker.engine.benchmark import wanted_symbols
from worker.engine.errors import EngineError
from worker.pipeline.inputs import RunInputs
from worker.pipeline.roots import DatasetRoots, Local
from worker.queue.handler import PermanentRunError

# Frames kept per process (the most recently used): each costs its bars' memory once.
FRAMES_KEPT = 2


class DatasetLoader:
    """Verifies and loads dataset files; safe to share between the worker's threads."""

    def __init__(
        self, cache_dir: str | Path = ".cache/datasets", roots: DatasetRoots | None = None
    ) -> None:
        self._verified: set[tuple[str, str, int, int]] = set()
        self._frames: OrderedDict[tuple[object, ...], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_dir = Path(cache_dir)
        self._roots = roots or DatasetRoots(("data",))

    def local_path(self, uri: str, expected_hash: str) -> tuple[Path, bool]:
        """The file to read, and whether it is the local copy of a remote object."""
        location = self._roots.locate(uri)
        if isinstance(location, Local):
            return location.path, False
        cached = self._cache_dir / f"{expected_hash}.parquet"
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.part")
            try:
                with fsspec.open(location.uri, "rb") as source, partial.open("wb") as target:
                    shutil.copyfileobj(source, target, length=1 << 20)
                os.replace(partial, cached)
            except FileNotFoundError:
                partial.unlink(missing_ok=True)
                raise _missing(uri) from None
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return cached, True

    def load_run_bars(self, inputs: RunInputs) -> pl.DataFrame:
        """The bars of the run's symbols and window (blocking: a thread's work)."""
        cfg = inputs.spec.config
        return self.load(
            inputs.storage_uri,
            inputs.dataset_hash,
            symbols=wanted_symbols(list(cfg.symbols) if cfg.symbols else None, cfg.benchmark),
            start=cfg.start,
            end=cfg.end,
        )

    def load(
        self,
        uri: str,
        expected_hash: str,
        *,
        symbols: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        path, cached = self.local_path(uri, expected_hash)
        try:
            stat = os.stat(path)
        except OSError:
            raise _missing(uri) from None
        key = (uri, expected_hash, stat.st_size, stat.st_mtime_ns)
        frame_key = (*key, tuple(symbols) if symbols else None, start, end)
        with self._lock:
            verified = key in self._verified
            frame = self._frames.get(frame_key)
            if frame is not None:
                self._frames.move_to_end(frame_key)
                return frame
        try:
            if not verified:
                actual = canonical_hash(load_bars(path))
                if actual != expected_hash:
                    raise PermanentRunError(
                        "dataset_corrupt",
                        f"the dataset file {clip(uri, 300)} does not match its recorded hash:"
                        " it was changed or damaged after import; import it again",
                        {
                            "storage_uri": clip(uri, 300),
                            "expected_hash": expected_hash,
                            "actual_hash": actual,
                        },
                    )
                with self._lock:
                    self._verified.add(key)
            frame = load_bars(path, symbols=symbols, start=start, end=end)
            with self._lock:
                self._frames[frame_key] = frame
                while len(self._frames) > FRAMES_KEPT:
                    self._frames.popitem(last=False)
            return frame
        except PermanentRunError:
            if cached:
                path.unlink(missing_ok=True)
            raise
        except (EngineError, pl.exceptions.PolarsError, OSError) as error:
            if cached:
                path.unlink(missing_ok=True)
            if isinstance(error, EngineError) and error.type == "dataset_not_found":
                raise _missing(uri) from None
            rule = error.type if isinstance(error, EngineError) else type(error).__name__
            raise PermanentRunError(
                "dataset_corrupt",
                f"the dataset file {clip(uri, 300)} is not readable canonical bars ({rule});"
                " import the dataset again",
                {"storage_uri": clip(uri, 300), "rule": rule},
            ) from None


def _missing(uri: str) -> PermanentRunError:
    return PermanentRunError(
        "dataset_missing",
        f"the dataset file {clip(uri, 300)} does not exist (or cannot be read) on this worker;"
        " import the dataset again or mount DATA_DIR on every worker",
        {"storage_uri": clip(uri, 300)},
    )
