"""Timestamps as the text polars' ``dt.to_string`` writes, by numpy where it can.

A polars query has a fixed cost (~0.05-0.1 ms, more on a busy machine) that is most of the
work for the few hundred times of a trade list; numpy formats a column of whole dates,
minutes or seconds in one call. Other formats, time zones and fractional seconds go through
polars. A missing time is "".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

COPY_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
"""ISO 8601 with the offset: how event times are written for COPY."""

Unit = Literal["D", "m", "s"]
_BY_NUMPY: dict[str, tuple[Unit, str]] = {  # format: (numpy unit, suffix)
    "%Y-%m-%d": ("D", ""),
    "%Y-%m-%d %H:%M": ("m", ""),
    COPY_FORMAT: ("s", "+00:00"),  # %.f writes nothing for whole seconds
}
_PER_SECOND = {"ns": 10**9, "us": 10**6, "ms": 10**3}


def time_texts(column: pl.Series, fmt: str) -> list[str]:
    """``column.dt.to_string(fmt).fill_null("").to_list()``."""
    spec = _BY_NUMPY.get(fmt)
    dtype = column.dtype
    zones = ("UTC",) if fmt == COPY_FORMAT else (None, "UTC")
    if spec is None or not isinstance(dtype, pl.Datetime) or dtype.time_zone not in zones:
        return _by_polars(column, fmt)
    unit, suffix = spec
    values: npt.NDArray[np.datetime64] = column.to_numpy()
    missing = np.isnat(values)
    if unit == "s" and (values.view(np.int64)[~missing] % _PER_SECOND[dtype.time_unit]).any():
        return _by_polars(column, fmt)
    shown = np.datetime_as_string(values, unit=unit)
    shown[missing] = ""
    texts: list[str] = shown.tolist()
    if unit == "m":
        return [text.replace("T", " ") for text in texts]
    if suffix:
        return [f"{text}{suffix}" if text else "" for text in texts]
    return texts


def _by_polars(column: pl.Series, fmt: str) -> list[str]:
    texts: list[str] = column.dt.to_string(fmt).fill_null("").to_list()
    return texts
