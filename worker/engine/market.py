"""MarketData: the canonical bars as numpy arrays plus per-symbol block bookkeeping.

Rows stay in canonical order (symbol, then time), so each symbol is one contiguous block
``[starts[k], ends[k])``. ``t_idx`` maps every row to its position on the union timestamp
grid ``grid_ts`` that the portfolio's equity curve uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class MarketData:
    frame: pl.DataFrame
    symbols: list[str]
    sym: I64  # symbol code per row
    starts: I64  # first row of each symbol
    ends: I64  # one past the last row of each symbol
    ts: I64  # µs since epoch per row
    open: F64
    high: F64
    low: F64
    close: F64
    grid_ts: I64  # sorted union of timestamps
    t_idx: I64  # grid position per row
    cache: dict[Any, Any] = field(default_factory=dict)  # indicator cache (grid runs)

    @property
    def n(self) -> int:
        return int(self.close.shape[0])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def block_first(self) -> B:
        """True on the first row of each symbol."""
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[self.starts] = True
        return mask

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> MarketData:
        runs = frame["symbol"].rle().struct.unnest()
        symbols = [str(s) for s in runs["value"].to_list()]
        if len(set(symbols)) != len(symbols) or symbols != sorted(symbols):
            frame = frame.sort("symbol", "timestamp", maintain_order=True)
            runs = frame["symbol"].rle().struct.unnest()
            symbols = [str(s) for s in runs["value"].to_list()]
        lengths = runs["len"].to_numpy().astype(np.int64)
        ends = np.cumsum(lengths)
        starts = ends - lengths
        sym = np.repeat(np.arange(len(symbols), dtype=np.int64), lengths)
        ts = frame["timestamp"].dt.epoch("us").to_numpy().astype(np.int64, copy=False)
        if len(symbols) == 1:
            grid_ts, t_idx = ts, np.arange(ts.shape[0], dtype=np.int64)
        else:
            grid_ts, inverse = np.unique(ts, return_inverse=True)
            t_idx = inverse.astype(np.int64, copy=False)

        def col(name: str) -> F64:
            return frame[name].to_numpy().astype(np.float64, copy=False)

        return cls(
            frame=frame,
            symbols=symbols,
            sym=sym,
            starts=starts,
            ends=ends,
            ts=ts,
            open=col("open"),
            high=col("high"),
            low=col("low"),
            close=col("close"),
            grid_ts=grid_ts,
            t_idx=t_idx,
        )
