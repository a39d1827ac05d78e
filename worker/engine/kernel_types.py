"""Type names for ``jit.kernel`` signatures: read-only inputs.

Arrays handed over by polars without a copy are read-only, and numba matches a signature's
mutability exactly, except that a writable array is accepted where a read-only one is
declared. Inputs are therefore declared read-only (C-contiguous, one dimension).
"""

from __future__ import annotations

RF8 = "Array(float64, 1, 'C', readonly=True)"
RI8 = "Array(int64, 1, 'C', readonly=True)"
RI1 = "Array(int8, 1, 'C', readonly=True)"
