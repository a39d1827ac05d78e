"""What each artifact costs to render: time and bytes, for three run sizes.

    .venv/bin/python bench/artifacts.py [--repeat 5]

Sizes: small (1 symbol, 250 daily bars), medium (5 symbols, 10 years of daily bars),
large (1 symbol, 1,000,000 one-minute bars); an SMA crossover (10/50) with 0.1 %
commission. Each artifact is rendered alone through ``render_files`` (so the two reports
each pay for the tearsheet they share), after one warm-up call; the figure is the median
of ``--repeat`` calls. "defaults" renders ``DEFAULT_ARTIFACTS`` together, "engine" is
``run_backtest`` on the same bars (median too). "stored" is the worker's own step after the
engine, ``worker.pipeline.store.outcome_of`` with the default files: render, write them under
a fresh run's prefix in a temporary directory (local disk), and build its event rows. No
database.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.engine.api import BacktestResult, parse_run, run_backtest
from worker.engine.synthetic import generate_bars
from worker.pipeline.inputs import RunInputs, RunOptions
from worker.pipeline.store import outcome_of
from worker.queue.handler import ArtifactRecord, RunJob, RunOutcome
from worker.results.artifacts import ARTIFACTS, render_files
from worker.results.report import RunIdentity
from worker.storage import FileStore

SIZES = {
    "small": (["AAA"], 250, "1d"),
    "medium": (["AAA", "BBB", "CCC", "DDD", "EEE"], 2520, "1d"),
    "large": (["AAA"], 1_000_000, "1m"),
}
STRATEGY = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}


def median_seconds(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    out = call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def identity(symbols: list[str], timeframe: str) -> RunIdentity:
    return RunIdentity(
        "00000000-0000-0000-0000-00000000be4c",
        1,
        "bench",
        "sma_crossover",
        "1.0.0",
        "synthetic",
        "0" * 64,
        timeframe,
        symbols,
    )


def measure(
    size: str, repeat: int, rows_asked: set[str] | None = None
) -> list[tuple[str, str, float, int]]:
    symbols, n_bars, timeframe = SIZES[size]
    bars = generate_bars(symbols=symbols, n_bars=n_bars, timeframe=timeframe, seed=1)

    def engine() -> BacktestResult:
        return run_backtest(
            bars, STRATEGY, {"commission": 0.001}, initial_capital=10_000, timeframe=timeframe
        )

    def asked(row: str) -> bool:
        return rows_asked is None or row in rows_asked

    engine_s, result = median_seconds(engine, repeat)
    who = identity(symbols, timeframe)
    rows = [("engine", "", engine_s, 0)]
    for name, spec in ARTIFACTS.items():
        if name == "leaderboard_csv" or not asked(name):
            continue  # grid runs only, or not asked for
        seconds, files = median_seconds(
            lambda name=name: render_files(who, result, frozenset({name})), repeat
        )
        rows.append((name, "on" if spec.default else "off", seconds, len(files[0].data)))
    if asked("defaults"):
        seconds, files = median_seconds(lambda: render_files(who, result), repeat)
        rows.append(("defaults", "", seconds, sum(len(f.data) for f in files)))
    if asked("stored"):
        seconds, size_bytes = stored_seconds(result, symbols, timeframe, repeat)
        rows.append(("stored", "", seconds, size_bytes))
    return rows


def stored_seconds(
    result: BacktestResult, symbols: list[str], timeframe: str, repeat: int
) -> tuple[float, int]:
    """``outcome_of`` for a new run each call (so each writes new files, as in production)."""
    spec = parse_run(STRATEGY, {"commission": 0.001}, initial_capital=10_000)
    root = tempfile.mkdtemp(prefix="bench-artifacts-")
    store = FileStore(root)

    def inputs() -> RunInputs:
        ids = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        job = RunJob(*ids, "backtest", Decimal(10_000), {}, 1, 1, "bench")
        return RunInputs(
            job,
            spec,
            RunOptions(),
            "synthetic",
            "0" * 64,
            "",
            timeframe,
            tuple(symbols),
            "sma_crossover",
            "1.0.0",
        )

    def stored() -> tuple[RunOutcome, list[ArtifactRecord]]:
        """The outcome and its files, the pending ones (side threads) waited for."""
        outcome = outcome_of(inputs(), result, store)
        return outcome, [*outcome.artifacts, *(f.result() for f in outcome.pending_artifacts)]

    try:
        seconds, (outcome, files) = median_seconds(stored, repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return seconds, sum(a.size_bytes for a in files) + len(outcome.events_csv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", nargs="*", default=list(SIZES))
    parser.add_argument(
        "--rows",
        help="comma-separated rows to measure (artifact names, defaults, stored); default all",
    )
    args = parser.parse_args()
    rows_asked = None if args.rows is None else {r.strip() for r in args.rows.split(",")}
    print(f"{'size':<7} {'artifact':<15} {'default':<7} {'ms':>9} {'bytes':>12}")
    for size in args.sizes:
        for name, default, seconds, size_bytes in measure(size, args.repeat, rows_asked):
            shown = f"{size_bytes:>12,}" if size_bytes else f"{'':>12}"
            print(f"{size:<7} {name:<15} {default:<7} {1000 * seconds:>9.1f} {shown}")


if __name__ == "__main__":
    main()
