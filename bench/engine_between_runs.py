"""The engine's time in a run after the previous run's files, as the worker runs it.

    .venv/bin/python -m bench.engine_between_runs [--runs 8] [--bars 1000000]

Each run is ``run_backtest`` on the large workload (1 symbol, 1M one-minute bars, SMA 10/50,
0.1 % commission) in the worker's CPU thread after 200 ms idle, as ``backtest-worker run``
does (``worker.queue.executor.run_in_thread``, which keeps the thread for the next run; the
end-to-end bench's latency scenario waits 200 ms), followed by
``worker.pipeline.store.outcome_of`` (render and store the default files under a temporary
directory) or not. Each mode runs in its own subprocess with the
worker's allocator tuning (``tune_allocator``), once with its default arena cap and once
with one arena. Prints each run's engine milliseconds, the in-process half of the
end-to-end bench's engine figures. The bars here come from numpy, whose arrays have grown
the heap before the first run; the worker reads them from Parquet (polars' own allocator),
so its first 1M-bar run touches fresh heap, 60-230 ms more on this VM, which
`bench.end_to_end` now leaves to its warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STRATEGY = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}
CONFIG = {"commission": 0.001}


def _in_run_thread(fn: Any) -> Any:
    from worker.queue.executor import run_in_thread

    return asyncio.run(run_in_thread(fn, name="run-bench"))


def work(runs: int, bars_n: int, render: bool, arena_max: int) -> list[float]:
    from worker.engine.tuning import tune_allocator

    tune_allocator(arena_max=arena_max)
    from worker.engine.api import parse_run, run_backtest
    from worker.engine.synthetic import generate_bars
    from worker.pipeline.inputs import RunInputs, RunOptions
    from worker.pipeline.store import outcome_of
    from worker.queue.handler import RunJob
    from worker.storage import FileStore

    bars = generate_bars(symbols=["AAA"], n_bars=bars_n, timeframe="1m", seed=1)
    spec = parse_run(STRATEGY, CONFIG, initial_capital=10_000)
    store = FileStore(tempfile.mkdtemp(prefix="bench-between-"))

    def inputs() -> RunInputs:
        job = RunJob(
            uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "backtest", Decimal(10_000), {}, 1, 1, "b"
        )
        return RunInputs(
            job, spec, RunOptions(), "synthetic", "0" * 64, "", "1m", ("AAA",), "sma", "1"
        )

    def one() -> float:
        started = time.perf_counter()
        result = run_backtest(bars, STRATEGY, CONFIG, initial_capital=10_000, timeframe="1m")
        seconds = time.perf_counter() - started
        if render:
            for pending in outcome_of(inputs(), result, store).pending_artifacts:
                pending.result()  # stored before the next run, as its final transaction waits
        return seconds

    for _ in range(2):
        one()
    out = []
    for _ in range(runs):
        time.sleep(0.2)
        out.append(round(_in_run_thread(one) * 1000, 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        render, arena = args.worker.split(":")
        print(json.dumps(work(args.runs, args.bars, render == "files", int(arena))))
        return
    print(f"load average {os.getloadavg()[0]:.2f}; engine ms per run, {args.bars:,} bars")
    for arena in (4, 1):
        for render in ("files", "none"):
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.engine_between_runs",
                    "--runs",
                    str(args.runs),
                    "--bars",
                    str(args.bars),
                    "--worker",
                    f"{render}:{arena}",
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[1],
            )
            times = json.loads(proc.stdout.strip().splitlines()[-1])
            label = "with outcome_of" if render == "files" else "engine only"
            print(
                f"  arena cap {arena}, {label:>15}: {times}  (median {sorted(times)[len(times) // 2]})"
            )


if __name__ == "__main__":
    main()
