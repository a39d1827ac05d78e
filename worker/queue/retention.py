"""Automatic retention (RETENTION_DAYS): finished runs older than that go, with their events,
artifact rows and files, and empty artifact folders are removed.

Every worker runs this loop, but a tick works only while it holds a session advisory lock,
so one worker at a time deletes (the others skip that tick at once). Runs go in batches,
each its own short transaction, so the queue's hot rows are never locked for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from worker.queue.looper import Periodic
from worker.queue.sql import load
from worker.storage import FileStore

# pg_advisory_lock key of the retention loop: "backtest-retention" in a 63-bit integer.
RETENTION_LOCK = 0x6274_7265_7465_6E74
BATCH = 500
# An empty folder younger than this may belong to a run about to write into it.
EMPTY_FOLDER_AGE_SECONDS = 3600.0


class Retention(Periodic):
    name = "retention"

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: FileStore,
        *,
        older_than_seconds: float,
        interval: float,
        log: Any,
        on_deleted: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(interval=interval, log=log)
        self._pool = pool
        self._store = store
        self._older_than = older_than_seconds
        self._on_deleted = on_deleted

    async def tick(self) -> None:
        async with self._pool.acquire() as connection:
            if not await connection.fetchval(load("try_lock"), RETENTION_LOCK):
                return  # another worker is pruning
            try:
                runs = await self._prune(connection)
            finally:
                await connection.fetchval(load("unlock"), RETENTION_LOCK)
        folders = await asyncio.to_thread(self._store.remove_empty_dirs, EMPTY_FOLDER_AGE_SECONDS)
        if runs or folders:
            self._log.info("retention_pruned", runs=runs, empty_folders=folders)

    async def _prune(self, connection: Any) -> int:
        total = 0
        while True:
            ids = [
                row["id"]
                for row in await connection.fetch(load("prune_batch"), self._older_than, BATCH)
            ]
            if ids:
                await asyncio.to_thread(self._delete_files, ids)
                total += len(ids)
                if self._on_deleted is not None:
                    self._on_deleted(len(ids))
            if len(ids) < BATCH:
                return total

    def _delete_files(self, ids: list[Any]) -> None:
        for run_id in ids:
            try:
                self._store.delete_prefix(str(run_id))
            except OSError as error:
                self._log.warning(
                    "retention_file_delete_failed", run_id=str(run_id), error=repr(error)
                )
