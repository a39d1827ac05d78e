"""One LISTEN connection per API process, fanned out to every live stream of that process.

`run_progress` and `run_completed` are routed by `run_id` to the subscriptions of that run;
`api_key_revoked` drops the key cache. A subscription keeps only the newest progress (a slow
browser gets the latest, not a backlog) and the completion. When the connection drops it
reconnects with jittered backoff (like the worker's listener) and tells every subscription to
re-read the run from the table, since notifications sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import asyncpg

from worker.queue.looper import Loop
from worker.queue.retry import backoff_seconds

CHANNEL_PROGRESS = "run_progress"
CHANNEL_COMPLETED = "run_completed"
CHANNEL_KEY_REVOKED = "api_key_revoked"
RECONNECT_BASE_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 5.0


def _setter(event: asyncio.Event) -> Callable[[Any], None]:
    return lambda _connection: event.set()


@dataclass(frozen=True)
class Message:
    """`progress` or `completed`, with the notification's JSON text as it arrived."""

    kind: str
    data: str

    @cached_property
    def ws_text(self) -> str:
        """The WebSocket frame, built once however many subscribers get it."""
        return f'{{"event":"{self.kind}","data":{self.data}}}'


RESYNC = Message("resync", "null")


@dataclass(eq=False)
class Subscription:
    run_id: str
    _progress: Message | None = None
    _completed: Message | None = None
    _resync: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, message: Message) -> None:
        if message.kind == "completed":
            self._completed = message
        else:
            self._progress = message
        self._wake.set()

    def resync(self) -> None:
        self._resync = True
        self._wake.set()

    async def next(self) -> Message:
        """The next message: a re-read request first, then progress, then the completion."""
        while True:
            if self._resync:
                self._resync = False
                return RESYNC
            if self._progress is not None:
                message, self._progress = self._progress, None
                return message
            if self._completed is not None:
                return self._completed
            self._wake.clear()
            await self._wake.wait()


class Hub(Loop):
    name = "api-hub"

    def __init__(
        self,
        dsn: str,
        *,
        on_key_revoked: Callable[[], None],
        health_check_seconds: float,
        log: Any,
    ) -> None:
        super().__init__()
        self._dsn = dsn
        self._on_key_revoked = on_key_revoked
        self._health_check_seconds = health_check_seconds
        self._log = log
        self._subscriptions: dict[str, set[Subscription]] = {}
        self.connected = asyncio.Event()
        self.connections = 0

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._subscriptions.values())

    def subscribe(self, run_id: uuid.UUID) -> Subscription:
        subscription = Subscription(str(run_id))
        self._subscriptions.setdefault(subscription.run_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.run_id)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subscriptions[subscription.run_id]

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        if channel == CHANNEL_KEY_REVOKED:
            self._on_key_revoked()
            return
        text = str(payload)
        try:
            run_id = json.loads(text)["run_id"]
        except (ValueError, KeyError, TypeError):
            self._log.warning("api_hub_bad_payload", channel=channel)
            return
        subs = self._subscriptions.get(str(run_id))
        if not subs:
            return
        message = Message("completed" if channel == CHANNEL_COMPLETED else "progress", text)
        for subscription in subs:
            subscription.push(message)

    def _resync_all(self) -> None:
        self._on_key_revoked()  # revocations may have been missed too
        for subs in self._subscriptions.values():
            for subscription in subs:
                subscription.resync()

    async def _loop(self) -> None:
        failures = 0
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    server_settings={"application_name": "backtest-api-listen"},
                    timeout=10,
                )
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                for channel in (CHANNEL_PROGRESS, CHANNEL_COMPLETED, CHANNEL_KEY_REVOKED):
                    await connection.add_listener(channel, self._notified)
                self.connections += 1
                if self.connections > 1:
                    self._log.info("api_hub_reconnected", after_failures=failures)
                failures = 0
                self.connected.set()
                self._resync_all()
                await self._watch(connection, lost)
                self._log.warning("api_hub_connection_lost")
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                self._log.warning("api_hub_connect_failed", error=repr(error), failures=failures)
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
                self._log.warning("api_hub_health_check_failed", error=repr(error))
                return
