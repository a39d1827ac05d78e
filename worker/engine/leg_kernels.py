"""Compiled kernels of execution.py's leg building (bit-identical to the numpy they
replace: tests/engine/test_leg_kernels.py)."""

from __future__ import annotations

from worker.engine.jit import kernel
from worker.engine.kernel_types import RI1, RI8
from worker.engine.market import I8, I64


@kernel(f"int64({RI1}, {RI8}, int64[::1])")
def change_rows(d: I8, starts: I64, out: I64) -> int:
    """Rows where the desired position differs from the previous row's (0 before a
    symbol's first row), written to ``out`` (at least ``len(d)`` long); their count."""
    k = 0
    b = 0
    nb = starts.shape[0]
    prev = 0
    for i in range(d.shape[0]):
        while b < nb and starts[b] == i:  # a symbol's first row (empty blocks share one)
            prev = 0
            b += 1
        out[k] = i  # kept only when the row changes: no branch per row
        k += d[i] != prev
        prev = d[i]
    return k
