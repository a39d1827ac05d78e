"""Process tuning for long-running simulation processes (never applied on import;
`backtest-worker run` applies it unless WORKER_TUNE_ALLOCATOR=false).

Each pass of the engine allocates arrays of ~8 bytes x bars. glibc's default returns freed
blocks above 128 KiB straight to the kernel, so the next array of the same size pays for
fresh zeroed pages again: on small VMs that page-faulting is a large share of a run. Calling
:func:`tune_allocator` once at worker start keeps freed blocks for reuse (grids measured
~30% faster on the benchmark machine).

One arena, not one per thread: the worker runs each run in a new thread, and a thread's own
arena lives in heaps of at most 64 MB that glibc unmaps as soon as they are empty, whatever
the trim threshold, so every 1M-bar run faulted its memory in again (zeroing pages was half of
the worker's CPU in a `perf` profile). The main arena keeps what it frees up to the trim
threshold. The cap binds only threads that have not allocated yet, so call this before
importing libraries that start threads (polars, pyarrow, numba); setting
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_ARENA_MAX`` in the
environment does the same from the process's start.

polars and pyarrow have allocators of their own (jemalloc in polars, mimalloc in pyarrow)
that give freed pages back to the kernel within about a second, so each large run's files
fault their buffers in again, a few microseconds a page on a small VM: with runs 1.5 s
apart, a 1M-bar run's trade events took ~1,100 page faults and its Parquet file ~200.
:func:`tune_native_allocators` keeps what they free for ``NATIVE_DECAY_MS`` instead (the
pages of an idle worker still go back); it sets their environment variables, read when the
libraries first allocate, so it too is called before they are imported.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_allocator(
    mmap_threshold: int = 256 * 1024 * 1024,
    trim_threshold: int = 1024 * 1024 * 1024,
    arena_max: int = 1,
) -> bool:
    """Apply the glibc malloc settings; False (and nothing changed) off glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, min(mmap_threshold, 2**31 - 1)) == 1
    ok &= mallopt(M_TRIM_THRESHOLD, min(trim_threshold, 2**31 - 1)) == 1
    ok &= mallopt(M_ARENA_MAX, arena_max) == 1
    return bool(ok)


NATIVE_DECAY_MS = 30_000


def tune_native_allocators(decay_ms: int = NATIVE_DECAY_MS) -> dict[str, str]:
    """polars' jemalloc and pyarrow's mimalloc (and jemalloc, if chosen) keep freed pages for
    ``decay_ms``; a variable the environment already sets is left as it is. Returns what
    was set."""
    wanted = {
        "_RJEM_MALLOC_CONF": f"dirty_decay_ms:{decay_ms},muzzy_decay_ms:{decay_ms}",
        "MIMALLOC_PURGE_DELAY": str(decay_ms),
        "JE_ARROW_MALLOC_CONF": f"dirty_decay_ms:{decay_ms},muzzy_decay_ms:{decay_ms}",
    }
    chosen = {name: value for name, value in wanted.items() if name not in os.environ}
    os.environ.update(chosen)
    return chosen
