"""Live streams end as soon as the server is told to stop.

On SIGTERM or SIGINT uvicorn stops accepting, then waits up to `timeout_graceful_shutdown`
for open responses to finish, and only then cancels them; it tells the app nothing. So the
app chains a handler in front of uvicorn's: it drains the hub (every SSE stream ends, every
WebSocket closes with 1012) and then calls uvicorn's handler. It works the same under
`--workers N` (each process has its own handlers) and under a plain `uvicorn` command.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def drain_on_exit(drain: Callable[[], None]) -> Callable[[], None]:
    """Call `drain` on the running loop when a stop signal arrives, before the handler that
    was there (uvicorn's); returns a function that puts that handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach the main thread only: nothing to chain to
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handler(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(drain)
        prior = previous[sig]
        if callable(prior):
            prior(sig, frame)
        elif prior == signal.SIG_DFL:  # not under a server: the signal does what it did
            signal.signal(sig, prior)
            signal.raise_signal(sig)

    for sig in SIGNALS:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, prior in previous.items():
            if signal.getsignal(sig) is handler and prior is not None:
                signal.signal(sig, prior)

    return restore
