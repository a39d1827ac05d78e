"""Compiled kernels of bar validation (bit-identical to the numpy they replace:
tests/engine/test_leg_kernels.py)."""

from __future__ import annotations

from worker.engine.jit import kernel
from worker.engine.kernel_types import RI8
from worker.engine.market import I64

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
