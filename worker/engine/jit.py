"""Compiled kernels: numba's ``njit`` with the engine's one set of options.

Most of the engine is whole-array numpy. A loop whose every step depends on the one before
(sizing fills against the cash the last fill left, a grid combination's single pass over
the bars) is written as a plain Python loop over numpy arrays and compiled here.

* ``cache=True``: the machine code is kept beside the module (or under
  ``NUMBA_CACHE_DIR``), so a new worker process loads it instead of compiling again.
* ``nogil=True``: the grid's threads run kernels at the same time.
* No ``fastmath``: results stay bit-for-bit what the same loop gives in numpy order.

``error_model="numpy"`` (an option of ``kernel``) makes a division by zero give inf/nan as
numpy does instead of raising; use it for loops that copy numpy's arithmetic.

Give a kernel an explicit signature (``kernel("float64(float64[:])")``) so it is compiled,
or loaded from the cache, when its module is imported, never in the middle of a run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

from numba import njit

F = TypeVar("F", bound=Callable[..., Any])


def kernel(
    *signatures: str, error_model: Literal["python", "numpy"] = "python"
) -> Callable[[F], F]:
    """Compile the decorated function eagerly for ``signatures`` (one or more)."""

    def compile_(fn: F) -> F:
        compiled = njit(list(signatures), cache=True, nogil=True, error_model=error_model)
        return cast(F, compiled(fn))

    return compile_
