"""Overfitting statistics benchmark: prints figures, is not a test.

    .venv/bin/python bench/overfitting.py [--bars 1000000] [--trials 1000] [--reps 10]

- the cost the statistics add to one grid combination: ``simulate_metrics`` against
  ``simulate_metrics_and_sums`` (the per-partition sums), alternating, on one SMA crossover
  curve of ``--bars`` one-minute bars (signals computed beforehand, not timed);
- the time of PBO by CSCV (16 partitions, 12,870 splits) over ``--trials`` combinations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from worker.engine.market import MarketData
from worker.engine.overfitting import pbo_from_sums
from worker.engine.params import RunConfig
from worker.engine.simulate import simulate_metrics, simulate_metrics_and_sums
from worker.engine.strategies import parse_strategy
from worker.engine.synthetic import generate_bars
from worker.engine.tuning import tune_allocator

PAIRS = [(5, 60), (20, 120), (53, 255)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    tune_allocator()
    md = MarketData.from_frame(generate_bars(["BENCH"], args.bars, "1m", seed=42))
    cfg = RunConfig(commission=0.001, units="fractional", fill="close")
    signals = [
        parse_strategy({"kind": "sma_crossover", "fast_period": f, "slow_period": s}, {}).signal(md)
        for f, s in PAIRS
    ]
    plain = with_sums = 0.0
    for _ in range(args.reps):
        for signal in signals:
            t = time.perf_counter()
            simulate_metrics(md, signal, cfg, capital=1e4, size=1.0, ppy=252)
            plain += time.perf_counter() - t
            t = time.perf_counter()
            simulate_metrics_and_sums(
                md, signal, cfg, capital=1e4, size=1.0, ppy=252, partitions=16
            )
            with_sums += time.perf_counter() - t
    n = args.reps * len(signals)
    print(
        f"one combination on {args.bars:,} bars (signal excluded): "
        f"{plain / n * 1e3:.1f} ms without the sums, {with_sums / n * 1e3:.1f} ms with them "
        f"(+{(with_sums - plain) / n * 1e3:.1f} ms, x{with_sums / plain:.3f})"
    )
    rng = np.random.default_rng(1)
    counts = np.full(16, args.bars / 16)
    s1 = rng.normal(0, 1e-3, (args.trials, 16))
    s2 = np.abs(rng.normal(1e-2, 1e-3, (args.trials, 16)))
    t = time.perf_counter()
    result = pbo_from_sums(counts, s1, s2)
    assert result is not None
    print(
        f"PBO over {args.trials:,} combinations, {result.splits:,} splits: "
        f"{time.perf_counter() - t:.2f} s"
    )


if __name__ == "__main__":
    main()
