"""Whether a String column holds one short string on every row, read from its views.

polars stores strings as Arrow string views: 16 bytes per row, and a string of at most 12
bytes lies wholly in its view (length as uint32, the bytes, zero padding). Such a string is
equal to another exactly when their views are equal, so the check reads two integers per
row instead of comparing strings (a million rows: 0.2 ms in cache, 0.8 ms from memory,
against 1 ms in cache for polars' ``==``).
Longer strings, or views laid out otherwise (an older polars, a non-zero padding), fall back
to polars' comparison, so the answer never depends on the layout.
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt
import polars as pl

from worker.engine.jit import kernel

U64 = npt.NDArray[np.uint64]

#: The longest string held inside its view.
INLINE_BYTES = 12

_RU8 = "Array(uint64, 2, 'C', readonly=True)"


@kernel(f"boolean({_RU8}, uint64, uint64)")
def views_equal(views: U64, low: int, high: int) -> bool:
    """Whether every 16-byte view (a row of ``views``, two uint64) is ``(low, high)``."""
    bad = False
    for i in range(views.shape[0]):
        bad |= (views[i, 0] != low) | (views[i, 1] != high)
    return not bad


def inline_view(value: str) -> tuple[int, int] | None:
    """The view of ``value`` as two uint64, or None when it is too long to be inlined."""
    raw = value.encode()
    if len(raw) > INLINE_BYTES:
        return None
    words = np.frombuffer(
        len(raw).to_bytes(4, sys.byteorder) + raw.ljust(INLINE_BYTES, b"\0"), dtype=np.uint64
    )
    return int(words[0]), int(words[1])


def _views(column: pl.Series) -> list[U64] | None:
    """Each chunk's views, without a copy (through the Arrow C stream, which keeps the
    chunks: ``Series.to_arrow`` would join them, a copy of every view)."""
    import pyarrow as pa

    if not hasattr(column, "__arrow_c_stream__"):  # an older polars: no zero-copy export
        return None
    arrow = pa.chunked_array(column)
    if not pa.types.is_string_view(arrow.type):
        return None
    out: list[U64] = []
    for chunk in arrow.chunks:
        if not len(chunk):
            continue
        words = np.frombuffer(chunk.buffers()[1], dtype=np.uint64).reshape(-1, 2)
        out.append(words[chunk.offset : chunk.offset + len(chunk)])
    return out


def all_equal(column: pl.Series, value: str) -> bool:
    """Whether every row of a String column is ``value``."""
    if column.null_count():
        return False
    view = inline_view(value)
    if view is not None:
        views = _views(column)
        if views is not None and all(views_equal(v, *view) for v in views):
            return True
    return bool((column == value).all())
