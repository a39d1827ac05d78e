"""MarketData: the canonical bars as numpy arrays plus per-symbol block bookkeeping.

Rows stay in canonical order (symbol, then time), so each symbol is one contiguous block
``[starts[k], ends[k])``. ``t_idx`` maps every row to its position on the union timestamp
grid ``grid_ts`` that the portfolio's equity curve uses.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from worker.engine.bar_kernels import increasing_in_blocks, positive_finite
from worker.engine.column_copy import increasing_timestamps, micros, positive_prices
from worker.engine.errors import EngineInputError
from worker.engine.string_views import all_equal

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]


class MarketData:
    """Read-only view of canonical bars; columns other than ``close`` and ``ts`` are
    converted to numpy on first use (a run that never needs the open pays nothing)."""

    def __init__(self, frame: pl.DataFrame, symbols: list[str], lengths: I64) -> None:
        self.frame = frame
        self.symbols = symbols
        self.ends: I64 = np.cumsum(lengths)
        self.starts: I64 = self.ends - lengths
        copied = increasing_timestamps(frame["timestamp"])
        if copied is None:
            copied = micros(frame["timestamp"]), False
        self.ts: I64 = copied[0]
        self._increasing = copied[1]  # True: ts strictly increases over all rows
        self.close: F64 = self._column("close")
        self.cache: dict[Any, Any] = {}  # indicator cache (shared by grid combinations)
        self.cache_bytes: int | None = None  # its budget (None: indicators.CACHE_BYTES)

    def _column(self, name: str) -> F64:
        """A price column as float64; missing, infinite or non-positive prices are an input
        error (files are validated on import, frames handed in directly are checked here)."""
        checked = positive_prices(self.frame[name])
        if checked is not None:
            return checked
        out: F64 = self.frame[name].to_numpy().astype(np.float64, copy=False)
        if not positive_finite(np.ascontiguousarray(out)):
            row = int(np.flatnonzero(~(np.isfinite(out) & (out > 0)))[0])
            symbol = self.symbols[int(self.sym_of(np.array([row]))[0])]
            raise EngineInputError(
                f"bar {row + 1} ({symbol}) has a missing or non-positive {name}",
                type="invalid_bars",
                detail={"row": row + 1, "column": name, "symbol": symbol},
            )
        return out

    @cached_property
    def ordered(self) -> bool:
        """Whether the rows strictly increase in time within each symbol block."""
        return self._increasing or bool(increasing_in_blocks(self.ts, self.starts, self.ends))

    @cached_property
    def open(self) -> F64:
        return self._column("open")

    @cached_property
    def high(self) -> F64:
        return self._column("high")

    @cached_property
    def low(self) -> F64:
        return self._column("low")

    @cached_property
    def volume(self) -> F64:
        """Traded volume per row (0 allowed; missing or negative is an input error)."""
        out: F64 = self.frame["volume"].to_numpy().astype(np.float64, copy=False)
        bad = ~(np.isfinite(out) & (out >= 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            symbol = self.symbols[int(self.sym_of(np.array([row]))[0])]
            raise EngineInputError(
                f"bar {row + 1} ({symbol}) has a missing or negative volume",
                type="invalid_bars",
                detail={"row": row + 1, "column": "volume", "symbol": symbol},
            )
        return out

    @cached_property
    def sym(self) -> I64:
        """Symbol code per row."""
        lengths = self.ends - self.starts
        out: I64 = np.repeat(np.arange(len(self.symbols), dtype=np.int64), lengths)
        return out

    @cached_property
    def _grid(self) -> tuple[I64, I64]:
        if len(self.symbols) == 1:
            return self.ts, np.arange(self.n, dtype=np.int64)
        if self.shared_timeline:
            m = int(self.ends[0])
            return self.ts[:m].copy(), np.tile(np.arange(m, dtype=np.int64), len(self.symbols))
        grid_ts = self.frame["timestamp"].unique().sort().dt.epoch("us").to_numpy()
        grid_ts = grid_ts.astype(np.int64, copy=False)
        t_idx: I64 = np.searchsorted(grid_ts, self.ts).astype(np.int64, copy=False)
        return grid_ts, t_idx

    @cached_property
    def shared_timeline(self) -> bool:
        """Whether every symbol has a bar at the same, increasing timestamps (aligned data):
        the timeline is then the first symbol's and a wide array is a reshape."""
        lengths = self.ends - self.starts
        m = int(lengths[0]) if lengths.shape[0] else 0
        if m == 0 or not (lengths == m).all():
            return False
        first = self.ts[:m]
        if not (first[1:] > first[:-1]).all():
            return False
        return bool((self.ts.reshape(-1, m) == first).all())

    @cached_property
    def marks(self) -> tuple[F64, F64]:
        """(close_w, open_mark_w), both timeline x symbol: the last known close, and the open
        where a symbol has a bar at t else its last close before t; 0 before a symbol's
        first bar. Used to value positions and size entries on a shared cash balance."""
        t_n, s_n = self.n_times, self.n_symbols
        if self.shared_timeline:  # no gaps: nothing to carry forward
            return self._wide(self.close), self._wide(self.open)
        close_w = np.full((t_n, s_n), np.nan)
        close_w[self.t_idx, self.sym] = self.close
        open_w = np.full((t_n, s_n), np.nan)
        open_w[self.t_idx, self.sym] = self.open
        idx = np.where(np.isnan(close_w), 0, np.arange(t_n)[:, None])
        np.maximum.accumulate(idx, axis=0, out=idx)
        close_w = np.take_along_axis(close_w, idx, axis=0)
        close_w = np.nan_to_num(close_w, nan=0.0)
        prev_close = np.vstack([np.zeros((1, s_n)), close_w[:-1]])
        open_mark = np.where(np.isnan(open_w), prev_close, open_w)
        return close_w, open_mark

    @cached_property
    def close_by_symbol(self) -> F64:
        """``marks[0]`` as symbol x timeline, C-contiguous (each symbol's marks in time
        order, as the compiled loops read them): on aligned data a view of the column."""
        if self.shared_timeline:
            return np.ascontiguousarray(self.close.reshape(self.n_symbols, -1))
        return np.ascontiguousarray(self.marks[0].T)

    @cached_property
    def open_mark_by_symbol(self) -> F64:
        """``marks[1]`` as symbol x timeline, like ``close_by_symbol``."""
        if self.shared_timeline:
            return np.ascontiguousarray(self.open.reshape(self.n_symbols, -1))
        return np.ascontiguousarray(self.marks[1].T)

    def _wide(self, column: F64) -> F64:
        out: F64 = np.ascontiguousarray(column.reshape(self.n_symbols, -1).T)
        return out

    @property
    def grid_ts(self) -> I64:
        """Sorted union of all symbols' timestamps: the run's timeline."""
        return self.ts if len(self.symbols) == 1 else self._grid[0]

    @property
    def t_idx(self) -> I64:
        """Timeline position of every row."""
        return self._grid[1]

    @property
    def n(self) -> int:
        return int(self.close.shape[0])

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def n_times(self) -> int:
        return int(self.grid_ts.shape[0])

    def sym_of(self, rows: I64) -> I64:
        """Symbol code of the given rows (without materialising ``sym``)."""
        out: I64 = np.searchsorted(self.ends, rows, side="right").astype(np.int64)
        return out

    def block_first(self) -> B:
        """True on the first row of each symbol."""
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[self.starts] = True
        return mask

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> MarketData:
        runs = sorted_runs(frame["symbol"])
        if runs is None:
            frame = frame.sort("symbol", "timestamp", maintain_order=True)
            runs = _rle(frame["symbol"])
        symbols, lengths = runs
        return cls(frame, symbols, lengths)


#: ``sorted_runs`` gives up (and the caller run-length encodes) beyond this many symbols.
MAX_SEARCHED_RUNS = 64


def _rle(column: pl.Series) -> tuple[list[str], I64]:
    runs = column.rle().struct.unnest()
    lengths: I64 = runs["len"].to_numpy().astype(np.int64)
    return [str(s) for s in runs["value"].to_list()], lengths


def sorted_runs(column: pl.Series) -> tuple[list[str], I64] | None:
    """(symbols, block lengths) when the symbol column is sorted, one block per symbol;
    None when it is not. A canonical frame's blocks are found by binary search and each is
    checked against its symbol (``string_views.all_equal``: about 0.2 ms per million rows,
    against 7 ms for a run-length encoding of the strings); more than ``MAX_SEARCHED_RUNS``
    symbols are run-length encoded."""
    n = column.len()
    if column.null_count():
        return None
    symbols: list[str] = []
    ends: list[int] = []
    lo = 0
    while lo < n:
        if len(symbols) == MAX_SEARCHED_RUNS:
            names, counts = _rle(column)
            ok = len(set(names)) == len(names) and names == sorted(names)
            return (names, counts) if ok else None
        symbol = str(column[lo])
        last = str(column[n - 1]) == symbol  # then, if sorted, the rest is this block
        hi = n if last else int(column.search_sorted(symbol, side="right"))
        if hi <= lo or (symbols and symbol <= symbols[-1]):
            return None
        if not all_equal(column.slice(lo, hi - lo), symbol):
            return None
        symbols.append(symbol)
        ends.append(hi)
        lo = hi
    bounds: I64 = np.array([0, *ends], dtype=np.int64)
    lengths: I64 = bounds[1:] - bounds[:-1]
    return symbols, lengths
