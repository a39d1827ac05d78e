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
"""

from __future__ import annotations

import ctypes
import ctypes.util

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
