"""Where a dataset may be read from: the worker's dataset roots, never where a row points.

`datasets.storage_uri` is written by whoever can write the shared database, so it is data,
not authority. A URI is read only when it lies under one of the roots: DATA_DIR and the
operator's DATASET_ROOTS. A local path is resolved first (`..` and symlinks included) and
must land inside a resolved local root; a remote URI must use a root's scheme (and bucket)
and lie under its prefix, with no `.`/`..` segments, no query or fragment and no fsspec
chaining (`::`). Anything else is `dataset_forbidden`, decided before the file is touched,
so that outside the roots a missing and an existing file give the same refusal.

A relative URI (what `dataset import` stores for files under a local DATA_DIR, e.g.
`<hash>.parquet`) is relative to DATA_DIR, the first root, so moving DATA_DIR moves the
datasets with it; a relative row written before (relative to the worker's working
directory, e.g. `data/<hash>.parquet`) is still found there when DATA_DIR has no such file.
Each candidate is confined like any other location and existence is asked only of allowed
ones. Absolute URIs (older rows, rows Node inserted, object storage) are read as they are.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from worker.bounds import clip
from worker.queue.handler import PermanentRunError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Local:
    path: Path


@dataclass(frozen=True)
class Remote:
    uri: str


Location = Local | Remote


def _split(uri: str) -> tuple[str | None, str]:
    match = _SCHEME.match(uri)
    if match is None:
        return None, uri
    scheme = match.group(1).lower()
    if scheme == "file":
        return None, match.group(2)
    return scheme, match.group(2)


class DatasetRoots:
    """The roots a worker reads datasets from (DATA_DIR first, then DATASET_ROOTS)."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self._local: list[Path] = []
        self._remote: list[tuple[str, str]] = []
        for root in roots:
            scheme, rest = _split(root.strip())
            if scheme is None:
                self._local.append(Path(rest).expanduser().resolve())
            else:
                self._remote.append((scheme, rest.strip("/")))

    def locate(self, uri: str) -> Location:
        """Where to read `uri`; PermanentRunError `dataset_forbidden` when it is not allowed."""
        if "\x00" in uri or "::" in uri:
            raise forbidden(uri)
        anchored = self._anchored(uri)
        if anchored is None:
            return self._confine(uri, uri)
        allowed: list[Location] = []
        for candidate in (anchored, uri):  # DATA_DIR first, then the working directory
            try:
                allowed.append(self._confine(candidate, uri))
            except PermanentRunError:
                continue
        if not allowed:
            raise forbidden(uri)
        for location in allowed:  # existence is asked only inside the roots
            if isinstance(location, Remote) or location.path.exists():
                return location
        return allowed[0]

    def _confine(self, candidate: str, uri: str) -> Location:
        scheme, rest = _split(candidate)
        if scheme is None:
            path = Path(rest).expanduser().resolve()
            if any(path.is_relative_to(root) for root in self._local):
                return Local(path)
            raise forbidden(uri)
        if "?" in rest or "#" in rest:
            raise forbidden(uri)
        parts = rest.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise forbidden(uri)
        normal = posixpath.join(*parts)
        for root_scheme, prefix in self._remote:
            if scheme == root_scheme and (not prefix or normal.startswith(prefix + "/")):
                return Remote(f"{scheme}://{normal}")
        raise forbidden(uri)

    def _anchored(self, uri: str) -> str | None:
        """A relative URI joined to DATA_DIR; None for any other URI."""
        if not self.roots or not uri or _SCHEME.match(uri) or uri.startswith(("/", "~")):
            return None
        data_dir = self.roots[0].strip()
        scheme, rest = _split(data_dir)
        if scheme is None:
            return str(Path(rest).expanduser() / uri)
        return f"{data_dir.rstrip('/')}/{uri}"


def forbidden(uri: str) -> PermanentRunError:
    return PermanentRunError(
        "dataset_forbidden",
        f"the dataset's storage_uri {clip(uri, 300)!r} is outside the worker's dataset roots"
        " (DATA_DIR and DATASET_ROOTS): the worker reads datasets only from there; import the"
        " dataset with `backtest-worker dataset import`, or have the operator add its root to"
        " DATASET_ROOTS",
        {"storage_uri": clip(uri, 300), "rule": "dataset_roots"},
    )
