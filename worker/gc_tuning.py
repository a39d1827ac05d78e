"""Keep Python's cyclic garbage collector off the per-request and per-run paths.

A long-lived process (a worker, an API server) imports its libraries once and keeps them:
polars, SQLAlchemy, pydantic models, FastAPI's routes. Left in the collector's view, every
full collection walks them all again, a pause of tens of milliseconds that lands on whichever
request or run is in flight; and at Python's default threshold (700 allocations) the young
generation is collected so often that, in a no-op run, it cost as much as the rest of the run.
"""

from __future__ import annotations

import gc

# Young-generation collections every this many allocations, instead of Python's 700.
GC_THRESHOLD = 20_000


def tune_gc() -> None:
    """Call once the process has loaded what it keeps: `gc.freeze()` moves everything alive
    now out of the collector's view, and the young generation is collected less often."""
    gc.collect()
    gc.freeze()
    threshold, *older = gc.get_threshold()
    gc.set_threshold(max(threshold, GC_THRESHOLD), *older)
