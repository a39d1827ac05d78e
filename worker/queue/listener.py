"""A dedicated LISTEN connection on a set of channels, each with its callback: in a worker,
`runs_pending` wakes the claimer and `run_cancel` stops a running run; in an API process
(`worker.api.hub`), progress and completions reach the streams. Notifications are hints (the
worker's safety poll, the hub's re-read after a reconnect catch anything missed).

When the connection drops (Postgres restart, network, `pg_terminate_backend`) it reconnects
with jittered exponential backoff, LISTENs again and asks for an immediate sweep, since
notifications sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from worker.queue.looper import Loop
from worker.queue.retry import backoff_seconds

CHANNEL_PENDING = "runs_pending"
CHANNEL_CANCEL = "run_cancel"
RECONNECT_BASE_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 5.0


def _setter(event: asyncio.Event) -> Callable[[Any], None]:
    return lambda _connection: event.set()


class Listener(Loop):
    name = "listener"

    def __init__(
        self,
        dsn: str,
        *,
        application_name: str,
        channels: Mapping[str, Callable[[str, str], None]],
        on_connected: Callable[[], None],
        health_check_seconds: float,
        log: Any,
        log_prefix: str = "listener",
    ) -> None:
        """`channels`: channel name → `callback(channel, payload)`. Log lines are named
        `<log_prefix>_reconnected`, `…_connection_lost` and so on."""
        self._dsn = dsn
        self._application_name = application_name
        self._channels = dict(channels)
        self._on_connected = on_connected
        self._health_check_seconds = health_check_seconds
        self._log = log
        self._prefix = log_prefix
        super().__init__()
        self.connected = asyncio.Event()
        self.connections = 0  # successful (re)connections, for tests and status

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        callback = self._channels.get(channel)
        if callback is not None:
            callback(channel, str(payload))

    async def _loop(self) -> None:
        failures = 0
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    server_settings={"application_name": self._application_name},
                    timeout=10,
                )
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                for channel in self._channels:
                    await connection.add_listener(channel, self._notified)
                self.connections += 1
                if failures or self.connections > 1:
                    self._log.info(f"{self._prefix}_reconnected", after_failures=failures)
                failures = 0
                self.connected.set()
                self._on_connected()  # sweep: whatever was notified while away
                await self._watch(connection, lost)
                self._log.warning(f"{self._prefix}_connection_lost")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                self._log.warning(
                    f"{self._prefix}_connect_failed", error=repr(error), failures=failures
                )
            finally:
                self.connected.clear()
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(
                backoff_seconds(max(failures, 1), RECONNECT_BASE_SECONDS, RECONNECT_MAX_SECONDS)
            )

    async def _watch(self, connection: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when the connection is gone: terminated, or silent to a health check."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._health_check_seconds)
                return
            try:
                await connection.execute("SELECT 1", timeout=self._health_check_seconds)
            except Exception as error:
                self._log.warning(f"{self._prefix}_health_check_failed", error=repr(error))
                return
