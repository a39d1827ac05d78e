"""A finished backtest's files: rendered, stored under the attempt's own prefix, then recorded.

Files are written before the completion transaction, under `<run id>/attempt-<n>/`, so two
attempts never overwrite each other; only the attempt that wins the fenced completion inserts
artifact rows, so files of a losing attempt are never referenced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property

import polars as pl
import pyarrow as pa
import pyarrow.parquet as parquet

from worker.db.enums import ArtifactKind
from worker.engine.api import BacktestResult
from worker.results.catalogue import ARTIFACT_NAMES, ARTIFACTS, DEFAULT_ARTIFACTS
from worker.results.csv_text import frame_csv
from worker.results.report import RunIdentity, html_report, json_report, title
from worker.results.tearsheet import Tearsheet, tearsheet
from worker.storage import FileStore, StoredFile

__all__ = [
    "ARTIFACTS",
    "ARTIFACT_NAMES",
    "DEFAULT_ARTIFACTS",
    "PendingFiles",
    "RenderedFile",
    "StoredArtifact",
    "defers_files",
    "render_files",
    "renders_aside",
    "side_threads",
    "start_files",
    "store_files",
]


@dataclass(frozen=True)
class RenderedFile:
    filename: str
    kind: ArtifactKind
    mime_type: str
    data: bytes


@dataclass(frozen=True)
class StoredArtifact:
    filename: str
    kind: ArtifactKind
    mime_type: str
    stored: StoredFile


WRITE_BATCH_ROWS = 65_536
STEP_COLUMNS = frozenset({"cash"})


def _parquet(frame: pl.DataFrame) -> bytes:
    """LZ4 over encodings that suit a curve: floats byte-stream-split, times and integers
    delta-packed, no dictionaries (a curve's values rarely repeat). Against polars' own
    writer on a million bars: about half the bytes in a third of the time. LZ4 rather than
    zstd: on a million bars 10 % more bytes in 30 % less time (the file is written before
    the run completes; zstd's compression was a third of the writer's time).

    Min/max statistics only for the non-float columns (the timestamps): a reader filters a
    curve by time; float statistics cost a seventh of the file's time on a million bars.

    A column without nulls (every column of the engine's curve) is written REQUIRED: no
    definition levels to compute and encode, half the writer's time on a million bars; the
    values a reader gets are the same.

    ``STEP_COLUMNS`` (cash, which changes at fills only) are written PLAIN: its long runs of
    one value compress by themselves, to half the bytes in half the time of the split.

    Values go to the encoders 65,536 at a time instead of Arrow's 1,024: the same bytes
    (tested), a tenth less time on a million bars."""
    table = _required_where_full(frame.to_arrow())
    encodings = {
        name: "DELTA_BINARY_PACKED"
        if dtype.is_temporal() or dtype.is_integer()
        else "PLAIN"
        if name in STEP_COLUMNS
        else "BYTE_STREAM_SPLIT"
        for name, dtype in frame.schema.items()
        if dtype.is_numeric() or dtype.is_temporal()
    }
    sink = pa.BufferOutputStream()  # Arrow's own buffer: no call back into Python per page
    parquet.write_table(
        table,
        sink,
        compression="lz4",
        use_dictionary=False,
        column_encoding=encodings,
        write_statistics=[name for name, dtype in frame.schema.items() if not dtype.is_float()],
        write_batch_size=WRITE_BATCH_ROWS,
    )
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _required_where_full(table: pa.Table) -> pa.Table:
    """The same columns (no copy), each not nullable in the schema if it holds no null."""
    fields = [
        field.with_nullable(column.null_count > 0)
        for field, column in zip(table.schema, table.columns, strict=True)
    ]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, table.schema.metadata))


class _Run:
    """One run's inputs for its renderers, with the tearsheet computed once for both
    reports and only if one of them is asked for."""

    def __init__(self, identity: RunIdentity, result: BacktestResult, names: list[str]):
        self.identity = identity
        self.result = result
        self.filenames = [ARTIFACTS[name].filename for name in names]

    @cached_property
    def sheet(self) -> Tearsheet:
        return tearsheet(self.result)


def _equity_png(run: _Run) -> bytes:
    # matplotlib takes ~0.5 s to import and ~1 s to draw: loaded only when a run asks
    from worker.results.plots import equity_png

    return equity_png(run.result.equity, run.result.trades, title(run.identity, run.result))


def _report_html(run: _Run) -> bytes:
    others = [name for name in run.filenames if name != "report.html"]
    return html_report(run.identity, run.result, run.sheet, others)


def _leaderboard_csv(run: _Run) -> bytes:
    assert run.result.leaderboard is not None, "grid runs only"
    return frame_csv(run.result.leaderboard)


_RENDERERS: dict[str, Callable[[_Run], bytes]] = {
    "report_html": _report_html,
    "report_json": lambda run: json_report(run.identity, run.result, run.sheet),
    "trades_csv": lambda run: frame_csv(run.result.trades),
    "equity_parquet": lambda run: _parquet(run.result.equity),
    "leaderboard_csv": _leaderboard_csv,
    "equity_csv": lambda run: frame_csv(run.result.equity),
    "equity_png": _equity_png,
}
assert set(_RENDERERS) == ARTIFACT_NAMES, "every catalogued artifact has a renderer"

# Renderers that spend their time in Arrow's or polars' native code with the GIL released (a
# few calls each, so they rarely wait for the GIL): on a curve of ``ASIDE_ROWS`` bars or more
# they run on side threads, with the trade events, while the reports are drawn in Python (on
# a million bars the Parquet file costs about as much as both reports together). Shorter runs
# stay on one thread: on ten years of daily bars the side threads waited for the GIL the
# reports hold, and the run's render + store was no shorter (measured alternated in one
# process on a loaded machine, 2026-12-03).
_GIL_FREE = frozenset({"equity_parquet", "trades_csv", "equity_csv", "leaderboard_csv"})
ASIDE_ROWS = 100_000


# Shorter curves than ``ASIDE_ROWS`` from this many bars on: every file is rendered and
# stored on a side thread, one after the other, while the run's final transaction writes
# its status and events; the transaction waits for them last (``PendingFiles.futures``).
# On ten years of daily bars (5 symbols) the run's render + store fell from about 21 % of
# INSERT → run_completed to 6 %, and the latency with it; on 250 daily bars the files take
# a few milliseconds, the hand-off to the side thread (the GIL it holds while the final
# transaction runs) ate the gain and bursts of two workers were no faster, some slower
# (measured alternated, 2026-12-04), so they stay on the run's thread.
DEFER_ROWS = 1_000


def defers_files(result: BacktestResult) -> bool:
    """Whether all of the run's files are left to a side thread (``DEFER_ROWS``)."""
    return DEFER_ROWS <= result.equity.height < ASIDE_ROWS


def renders_aside(result: BacktestResult) -> bool:
    """Whether the run's GIL-free work goes to the side threads (``ASIDE_ROWS``)."""
    return result.equity.height >= ASIDE_ROWS


@cache
def side_threads() -> ThreadPoolExecutor:
    """The process's threads for GIL-free renderers and their file writes (two: one run's
    Parquet file beside another's, when a worker runs two at a time); made on first use."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="artifacts")


def _chosen(result: BacktestResult, artifacts: frozenset[str] | None) -> list[str]:
    """The names to render, in catalogue order; an unknown one is a ValueError."""
    chosen = DEFAULT_ARTIFACTS if artifacts is None else artifacts
    unknown = sorted(set(chosen) - ARTIFACT_NAMES)
    if unknown:
        raise ValueError(f"unknown artifact(s) {', '.join(unknown)}")
    return [
        name
        for name in ARTIFACTS
        if name in chosen and (name != "leaderboard_csv" or result.leaderboard is not None)
    ]


def _aside(names: list[str], result: BacktestResult) -> list[str]:
    return [n for n in names if n in _GIL_FREE] if renders_aside(result) else []


def _rendered(name: str, data: bytes) -> RenderedFile:
    spec = ARTIFACTS[name]
    return RenderedFile(spec.filename, spec.kind, spec.mime_type, data)


def render_files(
    identity: RunIdentity, result: BacktestResult, artifacts: frozenset[str] | None = None
) -> list[RenderedFile]:
    """The files a run asked for (``None``: ``DEFAULT_ARTIFACTS``), in memory (pure), in
    catalogue order. ``leaderboard_csv`` yields a file only for grid runs. Names are
    validated by the caller against ``ARTIFACT_NAMES``; an unknown one is a ValueError."""
    names = _chosen(result, artifacts)
    run = _Run(identity, result, names)
    pending = {name: side_threads().submit(_RENDERERS[name], run) for name in _aside(names, result)}
    data = {name: _RENDERERS[name](run) for name in names if name not in pending}
    data |= {name: future.result() for name, future in pending.items()}
    return [_rendered(name, data[name]) for name in names]


def _stored(store: FileStore, prefix: str, file: RenderedFile) -> StoredArtifact:
    return StoredArtifact(
        file.filename, file.kind, file.mime_type, store.put(f"{prefix}/{file.filename}", file.data)
    )


@dataclass
class PendingFiles:
    """A run's files: those being rendered and stored on a side thread, and those to render
    on the caller's thread (``render``), not stored yet. ``wait`` stores the second and
    collects all, in catalogue order; in between, the caller does its own work."""

    store: FileStore
    prefix: str
    names: list[str]
    run: _Run
    aside: dict[str, Future[StoredArtifact]]
    here: dict[str, RenderedFile] | None = None

    def render(self) -> dict[str, RenderedFile]:
        """The files that are not rendered aside, rendered on this thread (once)."""
        if self.here is None:
            self.here = {
                name: _rendered(name, _RENDERERS[name](self.run))
                for name in self.names
                if name not in self.aside
            }
        return self.here

    def wait(self) -> list[StoredArtifact]:
        """Every file stored (those not rendered yet rendered first), in catalogue order."""
        return [future.result() for future in self.futures()]

    def futures(self) -> list[Future[StoredArtifact]]:
        """Every file, in catalogue order: those rendered on this thread rendered and stored
        now (their futures done), those rendered aside as their side thread's futures."""
        here = self.render()
        stored: dict[str, Future[StoredArtifact]] = {}
        for name, file in here.items():
            done: Future[StoredArtifact] = Future()
            done.set_result(_stored(self.store, self.prefix, file))
            stored[name] = done
        stored |= self.aside
        return [stored[name] for name in self.names]


def start_files(
    store: FileStore,
    run_id: uuid.UUID | str,
    attempt: int,
    identity: RunIdentity,
    result: BacktestResult,
    artifacts: frozenset[str] | None = None,
    *,
    defer: bool = False,
) -> PendingFiles:
    """``render_files``, stored under the attempt's prefix: the GIL-free files of a long
    curve are rendered, hashed and written on a side thread (their bytes never cross back),
    the longest first (the Parquet file); the others are rendered by
    ``PendingFiles.render`` and stored by ``PendingFiles.wait``. With ``defer``, every file
    is rendered and stored on one side thread, in catalogue order."""
    names = _chosen(result, artifacts)
    run = _Run(identity, result, names)
    prefix = attempt_prefix(run_id, attempt)

    def aside(name: str) -> StoredArtifact:
        return _stored(store, prefix, _rendered(name, _RENDERERS[name](run)))

    if defer and names:
        every = side_threads().submit(lambda: [aside(name) for name in names])
        return PendingFiles(store, prefix, names, run, _each(every, names))
    first = sorted(_aside(names, result), key=lambda name: name != "equity_parquet")
    pending = {name: side_threads().submit(aside, name) for name in first}
    return PendingFiles(store, prefix, names, run, pending)


def _each(
    every: Future[list[StoredArtifact]], names: list[str]
) -> dict[str, Future[StoredArtifact]]:
    """A future per file of one that stores them all (each fails as the whole does)."""
    each: dict[str, Future[StoredArtifact]] = {name: Future() for name in names}

    def settle(done: Future[list[StoredArtifact]]) -> None:
        error = done.exception()
        for i, future in enumerate(each.values()):
            if error is None:
                future.set_result(done.result()[i])
            else:
                future.set_exception(error)

    every.add_done_callback(settle)
    return each


def attempt_prefix(run_id: uuid.UUID | str, attempt: int) -> str:
    return f"{run_id}/attempt-{attempt}"


def store_files(
    store: FileStore, run_id: uuid.UUID | str, attempt: int, files: list[RenderedFile]
) -> list[StoredArtifact]:
    prefix = attempt_prefix(run_id, attempt)
    return [_stored(store, prefix, f) for f in files]
