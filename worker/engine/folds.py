"""Walk-forward windows on a run's timeline, and the bars inside a window.

Folds are cut on the timeline (the union of the run's bars' timestamps), by bar counts or by
calendar durations. The grid of a walk-forward is optimised on ``optimisation_windows``: each
fold's train window, then the out-of-sample span (every test window) for the in-sample
optimum. A ``Window`` is a set of half-open time ranges, so a swept walk-forward's child can
carry its own (``sweep_chunk.window``) and cut exactly the bars the single run cuts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from worker.engine.errors import EngineInputError
from worker.engine.grid import Evaluation
from worker.engine.market import I64, MarketData
from worker.engine.params import DURATION, SweepWindow, WalkForwardConfig

_POLARS_UNITS = {"min": "m", "h": "h", "d": "d", "w": "w", "mo": "mo", "y": "y"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Fold:
    """Half-open index ranges on the timeline."""

    train: tuple[int, int]
    test: tuple[int, int]


@dataclass(frozen=True)
class Window:
    """The bars whose time is in one of ``ranges`` (half-open, microseconds since the epoch,
    ascending, disjoint): fold ``fold``'s train window, or the out-of-sample span when
    ``fold`` is None."""

    fold: int | None
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ChunkResult:
    """What a sweep's child computed: its evaluation, and the window it was computed on
    (None for a plain sweep, on the run's whole window)."""

    window: Window | None
    evaluation: Evaluation


def _offsets(start_us: int, window: str, multiples: list[int]) -> I64:
    """``start`` moved forward by ``window × k`` for each k, calendar-aware (polars)."""
    match = DURATION.match(window)
    assert match is not None
    count, unit = int(match[1]), _POLARS_UNITS[match[2]]
    start = pl.Series([start_us] * len(multiples)).cast(pl.Datetime("us", "UTC"))
    by = pl.Series([f"{count * k}{unit}" for k in multiples])
    moved = pl.DataFrame({"t": start, "by": by}).select(pl.col("t").dt.offset_by(pl.col("by")))
    out: I64 = moved["t"].dt.epoch("us").to_numpy().astype(np.int64)
    return out


def fold_windows(grid_ts: I64, wf: WalkForwardConfig) -> list[Fold]:
    """Folds while a train window ends before the last bar; the last test may be short."""
    n = int(grid_ts.shape[0])
    folds: list[Fold] = []
    k = 0
    while True:
        if isinstance(wf.train, int):
            assert isinstance(wf.test, int) and isinstance(wf.step_window, int)
            lo = k * wf.step_window
            train_lo, train_hi = (0 if wf.anchored else lo), lo + wf.train
            test_hi = min(train_hi + wf.test, n)
        else:
            assert isinstance(wf.test, str) and isinstance(wf.step_window, str)
            start = int(_offsets(int(grid_ts[0]), wf.step_window, [k])[0])
            train_end = int(_offsets(start, wf.train, [1])[0])
            test_end = int(_offsets(train_end, wf.test, [1])[0])
            ends = np.searchsorted(grid_ts, [start, train_end, test_end]).tolist()
            train_lo, train_hi, test_hi = (0 if wf.anchored else ends[0]), ends[1], ends[2]
        if train_hi >= n:
            break
        if folds and train_hi < folds[-1].test[1]:
            raise EngineInputError(
                "walk_forward.step is shorter than walk_forward.test: test windows would overlap",
                type="invalid_config",
                detail={"step": wf.step_window, "test": wf.test},
            )
        if train_hi - train_lo >= 2 and test_hi > train_hi:
            folds.append(Fold((train_lo, train_hi), (train_hi, test_hi)))
        k += 1
    return folds


def run_folds(md: MarketData, wf: WalkForwardConfig) -> list[Fold]:
    """The run's folds; a clear error when its bars hold none."""
    folds = fold_windows(md.grid_ts, wf)
    if not folds:
        raise EngineInputError(
            f"walk_forward: {md.n_times} bars are too few for one train window ({wf.train}) "
            f"followed by a test window",
            type="invalid_config",
            detail={"bars": md.n_times, "train": wf.train, "test": wf.test},
        )
    return folds


def span(grid_ts: I64, lo: int, hi: int) -> tuple[int, int]:
    """Timeline positions ``[lo, hi)`` as a time range (the last bar's end is its time + 1 µs)."""
    end = int(grid_ts[hi]) if hi < grid_ts.shape[0] else int(grid_ts[-1]) + 1
    return int(grid_ts[lo]), end


def optimisation_windows(grid_ts: I64, folds: Sequence[Fold]) -> list[Window]:
    """Where a walk-forward runs its grid: each fold's train window, then the out-of-sample
    span (the test windows together; adjacent ones merged into one range)."""
    train = [Window(k + 1, (span(grid_ts, *f.train),)) for k, f in enumerate(folds)]
    merged: list[tuple[int, int]] = []
    for lo, hi in (span(grid_ts, *f.test) for f in folds):
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return [*train, Window(None, tuple(merged))]


def window_bars(md: MarketData, ranges: Sequence[tuple[int, int]]) -> MarketData:
    """The rows of ``md`` whose time is in one of ``ranges`` (canonical order kept)."""
    starts = np.array([lo for lo, _ in ranges], dtype=np.int64)
    ends = np.array([hi for _, hi in ranges], dtype=np.int64)
    at = np.searchsorted(starts, md.ts, side="right") - 1
    inside = (at >= 0) & (md.ts < ends[np.maximum(at, 0)])
    return MarketData.from_frame(md.frame.filter(pl.Series(inside)))


def window_config(window: Window) -> dict[str, Any]:
    """A window as a child's config carries it (``sweep_chunk.window``): ISO-8601 times."""
    return {
        "fold": window.fold,
        "ranges": [[_iso(lo), _iso(hi)] for lo, hi in window.ranges],
    }


def window_of(config: SweepWindow) -> Window:
    return Window(config.fold, tuple((_us(lo), _us(hi)) for lo, hi in config.ranges))


def _iso(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def by_window(chunks: Sequence[ChunkResult], windows: Sequence[Window]) -> list[Evaluation]:
    """The chunks' evaluations joined per window (chunk order kept), one per window of
    ``windows``. A chunk of a window the run does not have, or a window no chunk covers,
    means the children were cut for other folds than these bars give (workers of another
    version): a clear error rather than a result of other windows."""
    groups: dict[Window, Evaluation] = {w: Evaluation([], []) for w in windows}
    for chunk in chunks:
        group = groups.get(chunk.window) if chunk.window is not None else None
        if group is None:
            raise _mismatch(chunk.window, windows)
        group.rows.extend(chunk.evaluation.rows)
        group.sums.extend(chunk.evaluation.sums)
    for window, group in groups.items():
        if not group.rows:
            raise _mismatch(window, windows)
    return [groups[w] for w in windows]


def _mismatch(window: Window | None, windows: Sequence[Window]) -> EngineInputError:
    what = "no window" if window is None else window_config(window)
    return EngineInputError(
        f"the sweep's children do not match the run's {len(windows)} walk-forward windows "
        f"(e.g. {what}); insert the run again",
        type="invalid_result",
        detail={"windows": len(windows), "example": what},
    )
