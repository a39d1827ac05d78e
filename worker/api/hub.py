"""One LISTEN connection per API process, fanned out to every live stream of that process.

`run_progress` and `run_completed` are routed by `run_id` to the subscriptions of that run;
`api_key_revoked` drops the key cache. A subscription keeps only the newest progress (a slow
browser gets the latest, not a backlog) and the completion. A `Firehose` (the dashboard's
runs table) gets every run's messages and `runs_pending`, coalesced: the newest message per
run since it last read. When the connection drops it reconnects (it is the worker's
`Listener`, with its backoff) and tells every subscription to re-read from the tables, since
notifications sent while it was away are lost.

A stream waits in its own request task (`Subscription.next`), with no timer of its own: every
`heartbeat_seconds` the hub ticks every reader, and one that got nothing since the last tick
returns a `PING` (SSE sends a comment; a WebSocket ignores it). `close()` (the client left:
`worker.api.sse`; the server is stopping: `Hub.drain`) makes it return `CLOSED`. Every
message is encoded once, in the form each transport sends (`sse_frame`, `ws_text`), however
many subscribers get it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from worker.api.sse import PING_FRAME, frame
from worker.queue.listener import Listener

CHANNEL_PROGRESS = "run_progress"
CHANNEL_COMPLETED = "run_completed"
CHANNEL_KEY_REVOKED = "api_key_revoked"
CHANNEL_PENDING = "runs_pending"
FIREHOSE_MAX_RUNS = 1000  # more runs changed between two reads: the reader re-reads instead


@dataclass(frozen=True)
class Message:
    """`progress` or `completed`, with the notification's JSON text as it arrived."""

    kind: str
    data: str

    @cached_property
    def ws_text(self) -> str:
        return f'{{"event":"{self.kind}","data":{self.data}}}'

    @cached_property
    def sse_frame(self) -> bytes:
        return PING_FRAME if self is PING else frame(self.kind, self.data)

    @property
    def final(self) -> bool:
        return self.kind == "completed"


RESYNC = Message("resync", "null")
PING = Message("ping", "null")  # nothing new since the last heartbeat tick
CLOSED = Message("closed", "null")  # the client left or the server is stopping


@dataclass(eq=False)
class _Waiter:
    """The wake-up of one reader, with its heartbeat and its end."""

    closed: bool = False
    _quiet: bool = True  # nothing returned since the last tick
    _ping: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def tick(self) -> None:
        """The hub's heartbeat: a reader that got nothing since the last tick is owed a ping."""
        if self._quiet:
            self._ping = True
            self._wake.set()
        self._quiet = True

    def _pinged(self, pings: bool) -> bool:
        ping, self._ping = self._ping, False
        return ping and pings

    async def _wait(self) -> None:
        self._wake.clear()
        await self._wake.wait()


@dataclass(eq=False)
class Subscription(_Waiter):
    run_id: str = ""
    _progress: Message | None = None
    _completed: Message | None = None
    _resync: bool = False

    def push(self, message: Message) -> None:
        if message.kind == "completed":
            self._completed = message
        else:
            self._progress = message
        self._wake.set()

    def resync(self) -> None:
        self._resync = True
        self._wake.set()

    async def next(self, pings: bool = False) -> Message:
        """The next message: `CLOSED` once closed, then a re-read request, then progress,
        then the completion; with `pings`, `PING` when the hub's heartbeat finds it quiet."""
        while True:
            if self.closed:
                return CLOSED
            if self._resync:
                self._resync = False
                return RESYNC
            if self._progress is not None:
                message, self._progress = self._progress, None
                self._quiet = False
                return message
            if self._completed is not None:
                return self._completed
            if self._pinged(pings):
                return PING
            await self._wait()


@dataclass(frozen=True)
class Batch:
    """What changed since the last read: the newest message per run, whether runs were
    inserted, and whether the reader must re-read everything (messages were dropped)."""

    messages: tuple[Message, ...]
    inserted: bool
    resync: bool

    def json(self) -> str:
        runs = ",".join(f'{{"kind":"{m.kind}","data":{m.data}}}' for m in self.messages)
        flags = f'"inserted":{str(self.inserted).lower()},"resync":{str(self.resync).lower()}'
        return f'{{{flags},"runs":[{runs}]}}'

    @property
    def sse_frame(self) -> bytes:
        return frame("runs", self.json())

    final = False


@dataclass(eq=False)
class Firehose(_Waiter):
    _latest: dict[str, Message] = field(default_factory=dict)
    _inserted: bool = False
    _resync: bool = False

    def push(self, run_id: str, message: Message) -> None:
        if len(self._latest) >= FIREHOSE_MAX_RUNS and run_id not in self._latest:
            self._latest.clear()
            self._resync = True
        elif not self._resync:
            self._latest[run_id] = message
        self._wake.set()

    def pending(self) -> None:
        self._inserted = True
        self._wake.set()

    def resync(self) -> None:
        self._latest.clear()
        self._resync = True
        self._wake.set()

    async def next(self, pings: bool = False) -> Batch | Message:
        """What changed since the last read; `CLOSED` once closed; with `pings`, `PING`
        when the hub's heartbeat finds it quiet."""
        while not (self._latest or self._inserted or self._resync):
            if self.closed:
                return CLOSED
            if self._pinged(pings):
                return PING
            await self._wait()
        if self.closed:
            return CLOSED
        self._quiet = False
        batch = Batch(tuple(self._latest.values()), self._inserted, self._resync)
        self._latest, self._inserted, self._resync = {}, False, False
        return batch


class Hub:
    """The subscriptions of one API process, fed by one LISTEN connection: the worker's own
    `Listener`, with its reconnects and health checks."""

    def __init__(
        self,
        dsn: str,
        *,
        on_key_revoked: Callable[[], None],
        health_check_seconds: float,
        heartbeat_seconds: float,
        log: Any,
    ) -> None:
        self._on_key_revoked = on_key_revoked
        self._heartbeat_seconds = heartbeat_seconds
        self._ticker: asyncio.Task[None] | None = None
        self._log = log
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._firehoses: set[Firehose] = set()
        self._draining = False
        self._listener = Listener(
            dsn,
            application_name="backtest-api-listen",
            channels=dict.fromkeys(
                (CHANNEL_PROGRESS, CHANNEL_COMPLETED, CHANNEL_KEY_REVOKED, CHANNEL_PENDING),
                self._notified,
            ),
            on_connected=self._resync_all,
            health_check_seconds=health_check_seconds,
            log=log,
            log_prefix="api_hub",
        )

    def start(self) -> None:
        self._listener.start()
        self._ticker = asyncio.get_running_loop().create_task(self._heartbeats())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self._listener.stop()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            self.heartbeat()

    def heartbeat(self) -> None:
        """One tick: every reader quiet since the last one gets a `PING`."""
        for reader in self._readers():
            reader.tick()

    def _readers(self) -> Iterator[_Waiter]:
        for subs in self._subscriptions.values():
            yield from subs
        yield from self._firehoses

    @property
    def connected(self) -> asyncio.Event:
        return self._listener.connected

    @property
    def connections(self) -> int:
        return self._listener.connections

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._subscriptions.values()) + len(self._firehoses)

    def subscribe(self, run_id: uuid.UUID) -> Subscription:
        subscription = Subscription(run_id=str(run_id), closed=self._draining)
        self._subscriptions.setdefault(subscription.run_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.run_id)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subscriptions[subscription.run_id]

    def watch_all(self) -> Firehose:
        firehose = Firehose(closed=self._draining)
        self._firehoses.add(firehose)
        return firehose

    def unwatch(self, firehose: Firehose) -> None:
        self._firehoses.discard(firehose)

    def drain(self) -> None:
        """The server is stopping: every stream ends now, and any opened from now on at once
        (uvicorn waits for open responses before it stops, and tells them nothing)."""
        self._draining = True
        for reader in self._readers():
            reader.close()

    @property
    def draining(self) -> bool:
        return self._draining

    def _notified(self, channel: str, payload: str) -> None:
        if channel == CHANNEL_KEY_REVOKED:
            self._on_key_revoked()
            return
        if channel == CHANNEL_PENDING:
            for firehose in self._firehoses:
                firehose.pending()
            return
        text = payload
        try:
            run_id = orjson.loads(text)["run_id"]
        except (ValueError, KeyError, TypeError):
            self._log.warning("api_hub_bad_payload", channel=channel)
            return
        subs = self._subscriptions.get(str(run_id))
        if not subs and not self._firehoses:
            return
        message = Message("completed" if channel == CHANNEL_COMPLETED else "progress", text)
        for subscription in subs or ():
            subscription.push(message)
        for firehose in self._firehoses:
            firehose.push(str(run_id), message)

    def _resync_all(self) -> None:
        self._on_key_revoked()  # revocations may have been missed too
        for subs in self._subscriptions.values():
            for subscription in subs:
                subscription.resync()
        for firehose in self._firehoses:
            firehose.resync()
