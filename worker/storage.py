"""Where files live (artifacts, datasets): a local directory or S3-compatible object storage.

Both go through fsspec (s3fs for `s3://bucket/prefix`), so the worker code never branches on the
backend. S3 credentials and endpoint come from the usual AWS variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` for MinIO and other S3-compatible servers).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec


@dataclass(frozen=True)
class StoredFile:
    uri: str
    size_bytes: int
    sha256: str


class FileStore:
    """Writes and reads files under one root URI (a path, `file://…` or `s3://bucket/prefix`)."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root.rstrip("/")
        self.is_local = "://" not in root or root.startswith("file://")
        options = storage_options or {}
        self._fs, path = fsspec.core.url_to_fs(self.root, **options)
        self._root_path = str(Path(path).resolve()) if self.is_local else path

    def uri_for(self, key: str) -> str:
        if self.is_local:
            return str(Path(self._root_path, key))
        protocol = (
            self._fs.protocol[0] if isinstance(self._fs.protocol, tuple) else self._fs.protocol
        )
        return f"{protocol}://{posixpath.join(self._root_path, key)}"

    def put(self, key: str, data: bytes) -> StoredFile:
        """Write `data` at `key` (e.g. `<run id>/<attempt>/report.html`)."""
        path = posixpath.join(self._root_path, key)
        if self.is_local:
            _write_local(path, data)
        else:
            with self._fs.open(path, "wb") as handle:
                handle.write(data)
        return StoredFile(self.uri_for(key), len(data), hashlib.sha256(data).hexdigest())

    def get(self, uri: str) -> bytes:
        with self._fs.open(self._path_of(uri), "rb") as handle:
            data: bytes = handle.read()
        return data

    def files_under(self, key: str) -> list[str]:
        """Every file under `key` (a run's directory), at any depth; none if it is missing."""
        path = posixpath.join(self._root_path, key)
        return list(self._fs.find(path)) if self._fs.exists(path) else []

    def open(self, uri: str) -> IO[bytes]:
        """A binary reader of a stored file (call it off the event loop)."""
        handle: IO[bytes] = self._fs.open(self._path_of(uri), "rb")
        return handle

    def holds(self, uri: str, key: str) -> bool:
        """Whether `uri` names a file under `key` of this root (`..` cannot climb out)."""
        if self.is_local:
            local = Path(self._path_of(uri)).resolve()
            return local.is_relative_to(Path(self._root_path, key).resolve())
        path: str = posixpath.normpath(self._path_of(uri))
        return path.startswith(posixpath.join(self._root_path, key).rstrip("/") + "/")

    def delete_prefix(self, key: str) -> None:
        """Remove everything under `key` (a run's directory); missing is fine."""
        path = posixpath.join(self._root_path, key)
        if self._fs.exists(path):
            self._fs.rm(path, recursive=True)

    def remove_empty_dirs(self, older_than_seconds: float) -> int:
        """Remove directories under the root that hold no file (at any depth) and have not
        changed for `older_than_seconds` (a run that has just made its folder is about to
        write into it). Object stores have no directories: nothing to do there. Returns how
        many were removed."""
        if not self.is_local:
            return 0
        root = Path(self._root_path)
        if not root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        folders = [p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()]
        # mtimes before anything is removed: removing a child touches its parent
        quiet = {folder for folder in folders if _mtime(folder) < cutoff}
        removed = 0
        # deepest first, so a folder emptied of its empty subfolders goes too
        for folder in sorted(quiet, key=lambda p: len(p.parts), reverse=True):
            try:
                if not any(folder.iterdir()):
                    folder.rmdir()
                    removed += 1
            except OSError:
                continue  # written to meanwhile, or gone: leave it
        return removed

    def _path_of(self, uri: str) -> str:
        return (
            uri.split("://", 1)[1]
            if "://" in uri and not self.is_local
            else uri.removeprefix("file://")
        )


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def _write_local(path: str, data: bytes) -> None:
    """A plain file write; its folder is made only when missing (a run's first file), so
    the other files of the attempt cost one open each. The bytes go through the descriptor
    itself: no buffered writer, so no status or terminal query per file."""
    try:
        descriptor = os.open(path, _CREATE, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = os.open(path, _CREATE, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")
