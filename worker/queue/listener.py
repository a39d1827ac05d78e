"""The dedicated LISTEN connection: `runs_pending` wakes the claimer, `run_cancel` stops a
running run. Notifications are hints (the safety poll catches anything missed).

When the connection drops (Postgres restart, network, `pg_terminate_backend`) it reconnects
with jittered exponential backoff, LISTENs again and asks for an immediate sweep, since
notifications sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
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
        on_pending: Callable[[], None],
        on_cancel: Callable[[str], None],
        on_connected: Callable[[], None],
        health_check_seconds: float,
        log: Any,
    ) -> None:
        self._dsn = dsn
        self._application_name = application_name
        self._on_pending = on_pending
        self._on_cancel = on_cancel
        self._on_connected = on_connected
        self._health_check_seconds = health_check_seconds
        self._log = log
        super().__init__()
        self.connected = asyncio.Event()
        self.connections = 0  # successful (re)connections, for tests and status

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        if channel == CHANNEL_PENDING:
            self._on_pending()
        elif channel == CHANNEL_CANCEL:
            self._on_cancel(str(payload))

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
                await connection.add_listener(CHANNEL_PENDING, self._notified)
                await connection.add_listener(CHANNEL_CANCEL, self._notified)
                self.connections += 1
                if failures or self.connections > 1:
                    self._log.info("listener_reconnected", after_failures=failures)
                failures = 0
                self.connected.set()
                self._on_connected()  # sweep: whatever was notified while away
                await self._watch(connection, lost)
                self._log.warning("listener_connection_lost")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                self._log.warning("listener_connect_failed", error=repr(error), failures=failures)
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
                self._log.warning("listener_health_check_failed", error=repr(error))
                return
