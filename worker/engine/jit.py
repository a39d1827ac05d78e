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

numba checks a cached kernel against its own file only: a kernel that calls a kernel of
another module would keep the old callee after that module changes. So the cache lives in a
directory named by a digest of every kernel module's source (``kernel_cache_dir``): any
change to any of them starts a fresh cache, and processes of different versions never share
one.

Give a kernel an explicit signature (``kernel("float64(float64[:])")``) so it is compiled,
or loaded from the cache, when its module is imported, never in the middle of a run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from numba import njit
from numba.core import config as _config

F = TypeVar("F", bound=Callable[..., Any])


_NUMBA_CONFIG: Any = _config  # settings module without type information
_ENGINE = Path(__file__).resolve().parent
_KERNEL_MARK = b"from worker.engine.jit import"


def kernel_digest(sources: Iterable[Path]) -> str:
    """A short digest of the kernel modules among ``sources`` (name and content)."""
    digest = hashlib.sha256()
    for path in sorted(sources):
        text = path.read_bytes()
        if _KERNEL_MARK in text:
            digest.update(path.name.encode() + b"\0" + text + b"\0")
    return digest.hexdigest()[:16]


def kernel_cache_dir(base: Path, sources: Iterable[Path]) -> Path:
    return base / f"kernels-{kernel_digest(sources)}"


def _cache_base() -> Path:
    """``NUMBA_CACHE_DIR`` when set, else beside the engine, else the user's cache."""
    if _NUMBA_CONFIG.CACHE_DIR:
        given = Path(_NUMBA_CONFIG.CACHE_DIR)
        return given.parent if given.name.startswith("kernels-") else given
    in_tree = _ENGINE / "__pycache__"
    if os.access(in_tree if in_tree.exists() else _ENGINE, os.W_OK):
        return in_tree
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aitradepro-worker"


_NUMBA_CONFIG.CACHE_DIR = str(kernel_cache_dir(_cache_base(), _ENGINE.glob("*.py")))


def kernel(
    *signatures: str, error_model: Literal["python", "numpy"] = "python"
) -> Callable[[F], F]:
    """Compile the decorated function eagerly for ``signatures`` (one or more)."""

    def compile_(fn: F) -> F:
        compiled = njit(list(signatures), cache=True, nogil=True, error_model=error_model)
        return cast(F, compiled(fn))

    return compile_
