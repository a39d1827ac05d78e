"""Where a run's render + store spends its CPU, thread by thread: the run's own thread, the
artifact side threads, polars' pool and the rest of the process.

    .venv/bin/python -m bench.outcome_threads [--size large] [--runs 20] [--idle 0.3]

Each run is a fresh backtest (as in the worker), an idle pause (a worker's run follows an
idle wait, so caches are cold), then ``outcome_of`` with the default files written under a
temporary directory. The allocators are tuned as ``backtest-worker run`` tunes them. Each
thread's CPU is read from ``/proc/self/task/<tid>/schedstat`` (nanoseconds on a CPU) before
and after; a Python thread is named by ``threading``, a native one by its ``comm``. Prints
the mean per run; "process" is the sum over threads, "wall" the call's own time. Not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.engine.tuning import tune_allocator, tune_native_allocators

tune_allocator()
tune_native_allocators()  # before polars and pyarrow load, as the worker does

from bench.artifacts import SIZES, STRATEGY  # noqa: E402
from worker.engine.api import parse_run, run_backtest  # noqa: E402
from worker.engine.synthetic import generate_bars  # noqa: E402
from worker.pipeline.inputs import RunInputs, RunOptions  # noqa: E402
from worker.pipeline.store import outcome_of  # noqa: E402
from worker.queue.handler import RunJob  # noqa: E402
from worker.storage import FileStore  # noqa: E402


def thread_cpu() -> dict[int, tuple[str, int]]:
    """Each live thread's id, kind and nanoseconds on a CPU so far."""
    python_names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    for task in Path("/proc/self/task").iterdir():
        tid = int(task.name)
        try:
            ns = int((task / "schedstat").read_text().split()[0])
            comm = (task / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[tid] = (_kind(python_names.get(tid), comm), ns)
    return out


def _kind(python_name: str | None, comm: str) -> str:
    if python_name == "MainThread":
        return "run's thread"
    if python_name is not None:
        return re.sub(r"_\d+$", "", python_name)  # artifacts_0, _1: tasks go to either
    return re.sub(r"-\d*$", "", comm) or comm  # polars-0, polars-1 -> polars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=list(SIZES), default="large")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--idle", type=float, default=0.3, help="seconds before each call")
    args = parser.parse_args()
    symbols, n_bars, timeframe = SIZES[args.size]
    bars = generate_bars(symbols=symbols, n_bars=n_bars, timeframe=timeframe, seed=1)
    config = {"commission": 0.001}
    spec = parse_run(STRATEGY, config, initial_capital=10_000)
    root = tempfile.mkdtemp(prefix="bench-outcome-threads-")
    store = FileStore(root)
    spent: Counter[str] = Counter()
    walls, renders, stores = [], [], []
    try:
        for run in range(args.runs + 2):  # the first two warm the process up
            result = run_backtest(
                bars, STRATEGY, config, initial_capital=10_000, timeframe=timeframe
            )
            ids = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            job = RunJob(*ids, "backtest", Decimal(10_000), {}, 1, 1, "bench")
            inputs = RunInputs(
                job, spec, RunOptions(), "synthetic", "0" * 64, "", timeframe,
                tuple(symbols), "sma_crossover", "1.0.0",
            )  # fmt: skip
            time.sleep(args.idle)
            before, started = thread_cpu(), time.perf_counter()
            outcome = outcome_of(inputs, result, store)
            for pending in outcome.pending_artifacts:  # the final transaction waits for them
                pending.result()
            wall, after = time.perf_counter() - started, thread_cpu()
            if run < 2:
                continue
            for tid, (kind, ns) in after.items():
                spent[kind] += ns - before.get(tid, (kind, 0))[1]
            walls.append(wall)
            renders.append(outcome.metadata["timings"]["render"])
            stores.append(outcome.metadata["timings"]["store"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.size}: {args.runs} runs, load average {os.getloadavg()[0]:.2f}")
    print(f"  wall {1000 * statistics.median(walls):.1f} ms (median), render "
          f"{1000 * statistics.median(renders):.1f}, store {1000 * statistics.median(stores):.1f}")  # fmt: skip
    print(f"  process CPU {sum(spent.values()) / 1e6 / args.runs:.1f} ms per run (mean):")
    for kind, ns in spent.most_common():
        if ns / 1e6 / args.runs >= 0.05:
            print(f"    {kind:<24} {ns / 1e6 / args.runs:6.1f} ms")


if __name__ == "__main__":
    main()
