"""Per-key rate limits with the `limits` library (`API_RATE_LIMIT` notation).

The sliding window counter costs O(1) per request whatever the limit (the moving window keeps
one timestamp per request in the window: at 600/minute a list of 600 per key).

The counters live in `API_RATE_LIMIT_STORAGE`: `memory://` counts per process; a shared
storage (`redis://…`) makes the limit hold across processes and machines.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string


class RateLimit:
    def __init__(self, notation: str, storage_uri: str) -> None:
        self._items: list[RateLimitItem] = parse_many(notation)
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(uri))

    async def retry_after(self, identity: str) -> int | None:
        """Count one request of `identity`; None if allowed, else seconds until it would be."""
        for item in self._items:
            if not await self._limiter.hit(item, "api", identity):
                stats = await self._limiter.get_window_stats(item, "api", identity)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None
