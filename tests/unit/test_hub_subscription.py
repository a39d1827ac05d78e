"""A run's subscription: the newest progress then the completion, a heartbeat when idle, and
an end when the client leaves or the server drains the hub; frames are encoded once."""

from __future__ import annotations

import asyncio
import uuid

import structlog

from worker.api.hub import CLOSED, PING, Firehose, Hub, Message, Subscription
from worker.api.sse import PING_FRAME, frame


async def test_newest_progress_then_completion_and_a_ping_when_idle() -> None:
    subscription = Subscription(run_id="r1")
    assert await subscription.next(idle=0.01) is PING
    subscription.push(Message("progress", '{"pct":10}'))
    subscription.push(Message("progress", '{"pct":20}'))
    completed = Message("completed", '{"status":"succeeded"}')
    subscription.push(completed)
    assert (await subscription.next(idle=0.01)).data == '{"pct":20}'
    assert await subscription.next(idle=0.01) is completed


async def test_close_wakes_a_waiting_reader_and_wins_over_pending_messages() -> None:
    subscription = Subscription(run_id="r1")
    waiting = asyncio.create_task(subscription.next())
    await asyncio.sleep(0)
    subscription.close()
    assert await waiting is CLOSED
    subscription.push(Message("progress", "{}"))
    assert await subscription.next() is CLOSED
    firehose = Firehose()
    assert await firehose.next(idle=0.01) is PING
    firehose.pending()
    firehose.close()
    assert await firehose.next() is CLOSED


async def test_drain_closes_every_stream_and_the_ones_opened_after() -> None:
    hub = Hub(
        "postgresql://unused/db",
        on_key_revoked=lambda: None,
        health_check_seconds=10,
        log=structlog.get_logger(),
    )
    before = [hub.subscribe(uuid.uuid4()), hub.subscribe(uuid.uuid4())]
    firehose = hub.watch_all()
    hub.drain()
    after = hub.subscribe(uuid.uuid4())
    assert hub.draining
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
