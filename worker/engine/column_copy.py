"""A frame's numeric column as one contiguous numpy array, checked while it is copied.

A frame read from Parquet holds each column in several chunks, so ``to_numpy`` copies it,
and the load stage then read it a second time to check it (timestamps increasing, prices
finite and positive). Here each chunk is copied by a compiled loop that checks it on the
way, while it is in cache. A column of one chunk is not copied at all, and a column with
nulls or of another dtype is left to ``to_numpy`` (the caller's plain path).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from worker.engine.jit import kernel
from worker.engine.kernel_types import RF8, RI8

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Rows per step of the copying loops: each step is checked without a branch per row.
STEP = 4096


@kernel(f"boolean({RI8}, int64[::1], int64)")
def copy_increasing(src: I64, out: I64, at: int) -> bool:
    """``out[at : at + len(src)] = src``; whether ``src`` strictly increases and its first
    value is above ``out[at - 1]`` (when ``at > 0``)."""
    n = src.shape[0]
    if n == 0:
        return True
    dst = out[at : at + n]
    ok = at == 0 or src[0] > out[at - 1]
    dst[0] = src[0]
    for lo in range(1, n, STEP):
        m = min(STEP, n - lo)
        before, after, into = src[lo - 1 : lo - 1 + m], src[lo : lo + m], dst[lo : lo + m]
        bad = False
        for i in range(m):
            into[i] = after[i]
            bad |= after[i] <= before[i]
        ok &= not bad
    return ok


@kernel(f"boolean({RF8}, float64[::1], int64)")
def copy_positive_finite(src: F64, out: F64, at: int) -> bool:
    """``out[at : at + len(src)] = src``; whether every value is finite and > 0."""
    n = src.shape[0]
    dst = out[at : at + n]
    ok = True
    for i in range(n):
        x = src[i]
        dst[i] = x
        ok &= (x > 0.0) & (x < np.inf)
    return ok


def _chunks(series: pl.Series) -> list[npt.NDArray[Any]] | None:
    if series.null_count() or series.n_chunks() < 2:
        return None
    return [part.to_numpy() for part in series.get_chunks()]


def increasing_timestamps(series: pl.Series) -> tuple[I64, bool] | None:
    """(UTC microseconds, whether they strictly increase over the whole column) of a
    ``Datetime("us")`` column in chunks without nulls; None for any other column."""
    dtype = series.dtype
    if not (isinstance(dtype, pl.Datetime) and dtype.time_unit == "us"):
        return None
    parts = _chunks(series)  # datetime64[us] arrays: int64 microseconds underneath
    if parts is None:
        return None
    out: I64 = np.empty(series.len(), dtype=np.int64)
    ok, at = True, 0
    for part in parts:
        ok &= copy_increasing(part.view(np.int64), out, at)
        at += part.shape[0]
    return out, ok


def micros(timestamps: pl.Series) -> I64:
    """UTC microseconds since the epoch of a Datetime series: without nulls, a view of its
    ``datetime64[us]`` values (``to_physical`` and ``dt.epoch`` are polars queries, whose
    fixed cost is most of the work on a short column, and copy it)."""
    us = timestamps.cast(pl.Datetime("us", "UTC"))
    if not us.null_count():
        values = us.to_numpy()
        if values.dtype == np.dtype("datetime64[us]"):
            return values.view(np.int64)
    out: I64 = us.to_physical().to_numpy()
    return out.astype(np.int64, copy=False)


def positive_prices(series: pl.Series) -> F64 | None:
    """A ``Float64`` column in chunks without nulls whose every value is finite and > 0,
    as one array; None for any other column (or when a value is not)."""
    if series.dtype != pl.Float64:
        return None
    parts = _chunks(series)
    if parts is None:
        return None
    out: F64 = np.empty(series.len(), dtype=np.float64)
    at = 0
    for part in parts:
        if not copy_positive_finite(part, out, at):
            return None
        at += part.shape[0]
    return out
