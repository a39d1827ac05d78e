"""Loading a run's bars: the dataset file must exist and match its recorded content hash.

The hash is checked the first time a process uses a dataset file (a full read), then cached
for the life of the process, keyed by URI, hash and the file's size and modification time, so
a file replaced in place is checked again.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

import polars as pl

from worker.engine.bars import canonical_hash, load_bars
from worker.engine.errors import EngineError
from worker.queue.handler import PermanentRunError


class DatasetLoader:
    """Verifies and loads dataset files; safe to share between the worker's threads."""

    def __init__(self) -> None:
        self._verified: set[tuple[str, str, int, int]] = set()
        self._lock = threading.Lock()

    def load(
        self,
        uri: str,
        expected_hash: str,
        *,
        symbols: list[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        path = Path(uri.removeprefix("file://"))
        try:
            stat = os.stat(path)
        except OSError:
            raise PermanentRunError(
                "dataset_missing",
                f"the dataset file {uri} does not exist (or cannot be read) on this worker;"
                " import the dataset again or mount DATA_DIR on every worker",
                {"storage_uri": uri},
            ) from None
        key = (uri, expected_hash, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            verified = key in self._verified
        try:
            if not verified:
                actual = canonical_hash(load_bars(uri))
                if actual != expected_hash:
                    raise PermanentRunError(
                        "dataset_corrupt",
                        f"the dataset file {uri} does not match its recorded hash: it was changed"
                        " or damaged after import; import it again",
                        {"storage_uri": uri, "expected_hash": expected_hash, "actual_hash": actual},
                    )
                with self._lock:
                    self._verified.add(key)
            return load_bars(uri, symbols=symbols, start=start, end=end)
        except EngineError as error:
            raise PermanentRunError(
                "dataset_corrupt" if error.type != "dataset_not_found" else "dataset_missing",
                f"the dataset file {uri} cannot be read: {error.message}",
                {"storage_uri": uri, **error.detail},
            ) from None
        except (pl.exceptions.PolarsError, OSError) as error:
            raise PermanentRunError(
                "dataset_corrupt",
                f"the dataset file {uri} cannot be read: {error}",
                {"storage_uri": uri},
            ) from None
