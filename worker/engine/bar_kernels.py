"""Compiled kernels of bar validation (bit-identical to the numpy they replace:
tests/engine/test_leg_kernels.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8, RI8

# market.py imports this module: its array types are spelled out here
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Rows per chunk of ``increasing_in_blocks``: each chunk is checked without a branch per
#: row (the compiler vectorises it), and the scan stops at the first chunk that fails.
CHUNK = 4096


@kernel(f"boolean({RI8}, {RI8}, {RI8})")
def increasing_in_blocks(ts: I64, starts: I64, ends: I64) -> bool:
    """Whether ``ts`` strictly increases within every block ``[starts[k], ends[k])``."""
    for k in range(starts.shape[0]):
        for lo in range(starts[k] + 1, ends[k], CHUNK):
            bad = False
            for i in range(lo, min(lo + CHUNK, ends[k])):
                bad |= ts[i] <= ts[i - 1]
            if bad:
                return False
    return True


@kernel(f"boolean({RF8})")
def positive_finite(x: F64) -> bool:
    """Whether every value is finite and > 0 (False on a NaN), in one pass."""
    ok = True
    for i in range(x.shape[0]):
        ok &= (x[i] > 0.0) & (x[i] < np.inf)
    return ok
