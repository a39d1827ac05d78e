"""A run's subscription: the newest progress then the completion, the hub's heartbeat for a
quiet stream, and an end when the client leaves or the server drains the hub; frames are
encoded once."""

from __future__ import annotations

import asyncio
import uuid

import structlog

from worker.api.hub import CLOSED, PING, Firehose, Hub, Message, Subscription
from worker.api.sse import PING_FRAME, frame


def hub() -> Hub:
    return Hub(
        "postgresql://unused/db",
        on_key_revoked=lambda: None,
        health_check_seconds=10,
        heartbeat_seconds=15,
        log=structlog.get_logger(),
    )


async def test_newest_progress_then_completion() -> None:
    subscription = Subscription(run_id="r1")
    subscription.push(Message("progress", '{"pct":10}'))
    subscription.push(Message("progress", '{"pct":20}'))
    completed = Message("completed", '{"status":"succeeded"}')
    subscription.push(completed)
    assert (await subscription.next()).data == '{"pct":20}'
    assert await subscription.next() is completed


async def test_the_heartbeat_pings_quiet_streams_that_want_pings() -> None:
    the_hub = hub()
    sse, ws, busy = (the_hub.subscribe(uuid.uuid4()) for _ in range(3))
    firehose = the_hub.watch_all()
    waiting = [asyncio.create_task(s.next(pings=True)) for s in (sse, busy)]
    ws_waiting = asyncio.create_task(ws.next())
    fire_waiting = asyncio.create_task(firehose.next(pings=True))
    await asyncio.sleep(0)
    busy.push(Message("progress", "{}"))
    assert (await waiting[1]).kind == "progress"
    the_hub.heartbeat()
    assert await waiting[0] is PING
    assert await fire_waiting is PING
    busy_again = asyncio.create_task(busy.next(pings=True))
    await asyncio.sleep(0)
    assert not busy_again.done() and not ws_waiting.done()  # a message since the last tick
    the_hub.heartbeat()
    assert await busy_again is PING
    ws.push(Message("progress", "{}"))
    assert (await ws_waiting).kind == "progress"  # a WebSocket is never sent a PING


async def test_close_wakes_a_waiting_reader_and_wins_over_pending_messages() -> None:
    subscription = Subscription(run_id="r1")
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)
    subscription.close()
    assert await waiting is CLOSED
    subscription.push(Message("progress", "{}"))
    assert await subscription.next() is CLOSED
    firehose = Firehose()
    firehose.pending()
    firehose.close()
    assert await firehose.next() is CLOSED


async def test_drain_closes_every_stream_and_the_ones_opened_after() -> None:
    hub_ = hub()
    before = [hub_.subscribe(uuid.uuid4()), hub_.subscribe(uuid.uuid4())]
    firehose = hub_.watch_all()
    hub_.drain()
    after = hub_.subscribe(uuid.uuid4())
    assert hub_.draining
    for subscription in (*before, after):
        assert await subscription.next() is CLOSED
    assert await firehose.next() is CLOSED


def test_frames_are_encoded_once_per_message() -> None:
    message = Message("completed", '{"run_id":"r1"}')
    assert message.sse_frame == b'event: completed\r\ndata: {"run_id":"r1"}\r\n\r\n'
    assert message.sse_frame is message.sse_frame
    assert message.ws_text == '{"event":"completed","data":{"run_id":"r1"}}'
    assert PING.sse_frame == PING_FRAME
    assert frame("x", '{\n"a": 1}') == b'event: x\r\ndata: {\r\ndata: "a": 1}\r\n\r\n'
