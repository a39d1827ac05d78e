"""End-to-end benchmark: INSERT commit → `run_completed` received, on the path production takes.

    .venv/bin/python -m bench.end_to_end                 # full default run (< ~10 min, 2 cores)
    .venv/bin/python -m bench.end_to_end --quick         # smaller counts (< ~2 min)
    .venv/bin/python -m bench.end_to_end --json out.json --sizes small,medium --workers 2

A "Node side" in this process inserts runs with plain SQL, as Node.js does (`INSERT INTO runs
(dataset_id, strategy_id, initial_capital, config) VALUES (…) RETURNING id`), on one asyncpg
connection, and LISTENs on `run_completed` on another; both times (INSERT commit acknowledged,
notification received) come from the same clock in the same process. The runs are executed by
real `backtest-worker run` subprocesses with the production handler (no --handler: the CLI's
default), 1 and 2 processes at the worker's default concurrency, on datasets generated with
worker/engine/synthetic.py and imported with `backtest-worker dataset import`.

For each size (small: 1 symbol × 250 daily bars; medium: 5 symbols × 2,520 daily bars; large:
1 symbol × 1,000,000 one-minute bars) and worker count it measures
  latency   one run at a time on an idle worker: p50/p99/max INSERT commit → run_completed;
            with both artifact modes, their runs alternated (A B B A …);
  burst     many runs inserted at once (one multi-row INSERT by default): runs/s (first INSERT →
            last run_completed)
            and p50/p99 latency;
with default artifacts and with `config.artifacts = []` (when this worker supports it), the
share of each stage (claim, load, simulate, render, store, complete) derived from what the
worker records (events, runs.started_at/finished_at, runs.metadata.timings), and the no-op
ceiling of the same number of worker processes (handler bench.queue_throughput:noop).

Warm-up runs (not counted) first let every worker process import its libraries, verify each
dataset's hash and grow its heap to a run of each size, which a long-lived production worker
does once; the first one's latency is shown as "cold". Everything runs in its own database (created, migrated with `backtest-worker migrate`,
dropped at the end) and temporary directories; workers are stopped (SIGTERM, then SIGKILL) at
the end, on error and on Ctrl-C. Not a test.

Beside each burst: the CPU per run of the worker processes and of their PostgreSQL backends
(user + system, from /proc), steadier than a rate on a shared machine. On ext4, runs started
within a few minutes of another's end pay for its deleted files: each file created then
scans the inode bitmap past the recently deleted inodes (the kernel's `recently_deleted`,
60-360 s), about 3 ms of worker CPU a small run right after a burst of 400 (2026-12-07:
12.1-14.8 ms against 10.1-10.8 with `TMPDIR=/dev/shm`). Compare trees alternated, or put
the temporary directories on a tmpfs with `TMPDIR`.
"""
