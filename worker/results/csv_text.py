"""A frame as CSV, the bytes polars' ``write_csv`` writes for the run's files, without its
writer for short frames.

polars writes CSV through its streaming engine, whose start (an async executor and a pool
of threads woken and left spinning) costs about 0.4-0.6 ms on a quiet machine and more on a
busy one, however few the rows: it was most of a small run's trade list (4 trades: 0.14 ms
here against 0.63). Python's fixed-precision float formatting costs about 1 us a value, so
beyond ``PYTHON_ROWS`` rows polars is faster (349 trades: 2.6 ms here against 1.1). A frame
of up to that many rows whose columns are all of the kinds below is written here, one column
at a time; any other goes to polars. The two agree byte for byte (tested).
"""

from __future__ import annotations

import io
import math

import polars as pl

from worker.results.time_text import COPY_FORMAT, time_texts

DATETIME_FORMAT = COPY_FORMAT
FLOAT_PRECISION = 10
PYTHON_ROWS = 64

_SPECIAL = frozenset(',"\n\r')


def frame_csv(frame: pl.DataFrame) -> bytes:
    """``frame.write_csv(datetime_format=DATETIME_FORMAT, float_precision=10)``, as bytes."""
    if frame.height <= PYTHON_ROWS and frame.width:
        columns = [texts for name in frame.columns if (texts := _texts(frame[name])) is not None]
        if len(columns) == frame.width:
            header = ",".join(_quoted(name) for name in frame.columns)
            rows = [",".join(cells) for cells in zip(*columns, strict=True)]
            return "\n".join([header, *rows, ""]).encode()
    buffer = io.BytesIO()
    frame.write_csv(buffer, datetime_format=DATETIME_FORMAT, float_precision=FLOAT_PRECISION)
    return buffer.getvalue()


def _texts(column: pl.Series) -> list[str] | None:
    """Each value as polars writes it, or None for a column of another kind."""
    dtype = column.dtype
    if dtype == pl.Float64:
        return [_float(value) for value in column.to_list()]
    if dtype == pl.Int64:
        return ["" if value is None else str(value) for value in column.to_list()]
    if dtype == pl.String:
        values = column.to_list()
        shown = {value: "" if value is None else _quoted(value) for value in set(values)}
        return [shown[value] for value in values]
    if isinstance(dtype, pl.Datetime) and dtype.time_zone == "UTC":
        return time_texts(column, DATETIME_FORMAT)
    return None


def _float(value: float | None) -> str:
    if value is None:
        return ""
    if math.isfinite(value):
        return f"{value:.{FLOAT_PRECISION}f}"
    return "NaN" if value != value else "inf" if value > 0 else "-inf"


def _quoted(text: str) -> str:
    """A field quoted as polars quotes it: when empty or holding a comma, a quote or a line
    break."""
    if text and _SPECIAL.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'
