"""Dot products over the symbols added left to right, as the portfolio kernels' loops add.

``@`` and numba's ``np.dot`` go to BLAS, whose OpenBLAS kernel is picked by the CPU at run
time (numpy's and scipy's builds each their own): the last bits of a product could differ
between the machines of a fleet and between the kernel and this reference. ``cumsum`` adds
in order, so these give a plain loop's bits on any machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.engine.market import F64


def ordered_dot(a: F64, b: F64) -> Any:
    """``a @ b`` (``a`` 1-D or rows x symbols) as ``acc = 0.0; acc += a[s] * b[s]`` for s
    in order: numpy's sequential ``cumsum``, onto 0.0 as the loop starts (-0.0 → 0.0)."""
    return 0.0 + np.cumsum(a * b, axis=-1)[..., -1]
