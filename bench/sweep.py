"""Sweep benchmark: a grid fanned out to child runs, drained by 1 and 2 worker processes,
against the same grid as one run. Prints figures; not a test.

    .venv/bin/python -m bench.sweep                      # 20,000 combinations on 1M bars
    .venv/bin/python -m bench.sweep --bars 100000 --combinations 400 --chunk-size 50
    .venv/bin/python -m bench.sweep --bars 20000 --combinations 100 --walk-forward 4000:2000

On a synthetic 1-symbol, 1-minute dataset (seeded GBM) and an SMA-crossover grid of
`--combinations` (fast × slow, all valid), it measures from the INSERT's commit to the run's
`finished_at` (database clock), each in a fresh queue:

* the grid as one run, on one worker process (the baseline);
* the sweep (`sweep: {"chunk_size": N}`) on 1 and on 2 worker processes (`--workers`),
  one run at a time per process (WORKER_CONCURRENCY=1).

The processes are started, and listening, before the INSERT: their start-up is not timed.

Figures: combinations/s; scaling efficiency (rate with k processes / (k × rate with one));
per child, its wall time (claim → finished) against its own evaluation time
(`metadata.timings.evaluate`), the rest being the child's overhead (claim, inputs, bars from
the process's cache, the completion with its chunk and the fan-in trigger); and the sweep's total
overhead against the one-run grid. Each sweep's result (metrics, best parameters, grid
summary, `leaderboard.csv`, `trades.csv`) is compared with the one run's. With
`--walk-forward TRAIN:TEST` the run is a walk-forward (its sweep: one child per chunk and
window) and rates count each combination once per window. The engine's own threads (up to 4 per process) are left
as in production: on a 2-core machine one process already uses both cores.

Creates its own database on the server and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent / "backtest-worker"
HANDLER = "worker.pipeline.runner:execute_run"
STRATEGY = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 300}


def grid_for(combinations: int) -> dict[str, list[int]]:
    """fast × slow with at least `combinations` pairs, every one valid (fast < slow)."""
    fast = max(1, math.isqrt(combinations // 2))
    slow = math.ceil(combinations / fast)
    return {
        "fast_period": list(range(2, 2 + fast)),
        "slow_period": list(range(2 + fast + 10, 2 + fast + 10 + slow)),
    }


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class Bench:
    def __init__(
        self, url: str, data_dir: Path, artifacts: Path, engine_threads: int | None = None
    ) -> None:
        self.url = url
        self.data_dir = data_dir
        self.artifacts = artifacts
        self.engine_threads = engine_threads

    async def setup(self, bars: int) -> None:
        from worker.db.migrate import upgrade
        from worker.engine.bars import canonical_hash, write_canonical_parquet
        from worker.engine.synthetic import generate_bars

        await asyncio.to_thread(upgrade, self.url)
        frame = generate_bars(symbols=["X"], n_bars=bars, timeframe="1min", seed=11)
        digest = canonical_hash(frame)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = write_canonical_parquet(frame, self.data_dir / f"{digest}.parquet")
        connection = await asyncpg.connect(self.url)
        try:
            self.dataset = await connection.fetchval(
                "INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,"
                " storage_uri, hash) VALUES ('bench', ARRAY['X'], '1m', $1, $2, $3, $4, $5)"
                " RETURNING id",
                frame["timestamp"].min(),
                frame["timestamp"].max(),
                frame.height,
                str(path),
                digest,
            )
            self.strategy = await connection.fetchval(
                "INSERT INTO strategies (name, params) VALUES ('bench', $1::text::jsonb)"
                " RETURNING id",
                json.dumps(STRATEGY),
            )
        finally:
            await connection.close()

    async def run(self, config: dict[str, Any], workers: int) -> dict[str, Any]:
        """One run drained by `workers` processes, started and listening before the INSERT
        (their start-up is not timed); its timings from the database."""
        connection = await asyncpg.connect(self.url)
        processes = [self._worker() for _ in range(workers)]
        try:
            # run_queue first, the order in which an idle worker's claim locks the two tables
            # (migration 0015): TRUNCATE runs CASCADE took them the other way round, a deadlock.
            await connection.execute("TRUNCATE run_queue, runs CASCADE")
            await self._ready(connection, workers)
            run_id: uuid.UUID = await connection.fetchval(
                "INSERT INTO runs (dataset_id, strategy_id, initial_capital, config)"
                " VALUES ($1, $2, 10000, $3::text::jsonb) RETURNING id",
                self.dataset,
                self.strategy,
                json.dumps(config),
            )
            await self._until(
                connection,
                "SELECT status IN ('succeeded', 'failed', 'cancelled') FROM runs WHERE id = $1",
                run_id,
            )
            row = await connection.fetchrow(
                "SELECT status::text, error::text, extract(epoch FROM finished_at - created_at)"
                " AS seconds FROM runs WHERE id = $1",
                run_id,
            )
            if row["status"] != "succeeded":
                raise RuntimeError(f"the run ended {row['status']}: {row['error']}")
            children = await connection.fetch(
                "SELECT extract(epoch FROM finished_at - started_at)::float8 AS wall,"
                " (metadata #>> '{timings,evaluate}')::float8 AS compute,"
                " (metadata #>> '{sweep,combinations}')::int AS combinations,"
                " metadata #>> '{sweep,index}' AS index"
                " FROM runs WHERE parent_id = $1",
                run_id,
            )
            outcome = await connection.fetchrow(
                "SELECT metrics, metadata -> 'best_params' AS best, metadata -> 'grid' AS grid,"
                " metadata #> '{resolved_config,walk_forward_summary}' AS walk_forward,"
                " (metadata #>> '{resolved_config,walk_forward_summary,folds}')::int AS folds,"
                " ARRAY(SELECT storage_path FROM artifacts WHERE run_id = r.id"
                "  AND filename IN ('leaderboard.csv', 'trades.csv') ORDER BY filename) AS files"
                " FROM runs AS r WHERE id = $1",
                run_id,
            )
            files = [await asyncio.to_thread(Path(f).read_bytes) for f in outcome["files"]]
            path = await timeline(connection, run_id)
            result = (
                outcome["metrics"],
                outcome["best"],
                outcome["grid"],
                outcome["walk_forward"],
                files,
            )
            return {
                "seconds": float(row["seconds"]),
                "children": [dict(c) for c in children],
                "result": result,
                "windows": outcome["folds"] + 1 if outcome["folds"] else 1,
                "timeline": path,
            }
        finally:
            await connection.close()
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                await asyncio.to_thread(process.wait)

    async def _ready(self, connection: asyncpg.Connection, workers: int) -> None:
        """Every process has LISTENed (its listen connection's last statement) and opened its
        claim connection, then half a second more: a process that is still starting would
        otherwise miss the INSERT's notification and claim it only at its next poll (up to
        POLL_INTERVAL_SECONDS later), which is start-up, not the sweep."""
        await self._until(
            connection,
            "SELECT count(*) FILTER (WHERE application_name LIKE 'backtest-worker/listen/%'"
            "  AND state = 'idle' AND query LIKE 'LISTEN%') >= $1"
            " AND count(*) FILTER (WHERE application_name LIKE 'backtest-worker/claim/%') >= $1"
            " FROM pg_stat_activity WHERE datname = current_database()",
            workers,
        )
        await asyncio.sleep(0.5)

    @staticmethod
    async def _until(connection: asyncpg.Connection, query: str, *args: Any) -> None:
        for _ in range(360_000):
            if await connection.fetchval(query, *args):
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(query)

    def _worker(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.url,
            PYTHONPATH=str(ROOT),
            WORKER_ENV_FILE="/nonexistent/.env",
            LOG_LEVEL="WARNING",
            LOG_FORMAT="json",
            WORKER_CONCURRENCY="1",
            DATA_DIR=str(self.data_dir),
            ARTIFACT_DIR=str(self.artifacts),
            RUN_TIMEOUT="7200",
            LEASE_SECONDS="30",
        )
        if self.engine_threads is not None:
            env["ENGINE_THREADS"] = str(self.engine_threads)
        return subprocess.Popen(
            [str(BIN), "run", "--handler", HANDLER],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )


async def timeline(connection: asyncpg.Connection, run_id: uuid.UUID) -> dict[str, float]:
    """Where a run's time went, from the database's timestamps (seconds; each is the start of
    the transaction that wrote it): the INSERT → the first claim; for a sweep, the split
    (claim → the fan-out's commit), the fan-out → the first child's claim, the children's
    claim → completion (their compute apart), the gaps between one child's completion and
    the next claim on the same process, the last child → the parent's second claim, and the
    fan-in run; for a single run, claim → finished."""
    parent = await connection.fetchrow(
        "SELECT created_at, finished_at, metadata -> 'timings' AS timings,"
        " ARRAY(SELECT timestamp FROM events WHERE run_id = $1 AND event_type = 'claimed'"
        "  ORDER BY timestamp) AS claims,"
        " (SELECT min(timestamp) FROM events WHERE run_id = $1"
        "  AND event_type = 'fanned_out') AS fanned_out,"
        " (SELECT min(timestamp) FROM events WHERE run_id = $1"
        "  AND event_type = 'children_finished') AS fanned_in"
        " FROM runs WHERE id = $1",
        run_id,
    )
    claims = parent["claims"]
    path = {"wake": (claims[0] - parent["created_at"]).total_seconds()}
    stages = {f"[{k}]": v for k, v in json.loads(parent["timings"] or "{}").items()}
    if parent["fanned_out"] is None:
        path["run"] = (parent["finished_at"] - claims[-1]).total_seconds()
        return path | stages
    children = await connection.fetch(
        "SELECT started_at, finished_at,"
        " (metadata #>> '{timings,evaluate}')::float8 AS compute,"
        " (SELECT worker_id FROM (SELECT payload ->> 'worker_id' AS worker_id, timestamp"
        "  FROM events WHERE run_id = r.id AND event_type = 'claimed') AS e"
        "  ORDER BY timestamp DESC LIMIT 1) AS worker"
        " FROM runs AS r WHERE parent_id = $1 ORDER BY started_at",
        run_id,
    )
    first = min(c["started_at"] for c in children)
    by_worker: dict[str, list[Any]] = {}
    for child in children:
        by_worker.setdefault(child["worker"], []).append(child)
    gaps = [
        (b["started_at"] - a["finished_at"]).total_seconds()
        for runs in by_worker.values()
        for a, b in itertools.pairwise(runs)
    ]
    walls = [(c["finished_at"] - c["started_at"]).total_seconds() for c in children]
    path |= {
        "split": (parent["fanned_out"] - claims[0]).total_seconds(),
        "first_child": (first - parent["fanned_out"]).total_seconds(),
        "children_compute": sum(c["compute"] for c in children),
        "children_other": sum(walls) - sum(c["compute"] for c in children),
        "gaps": sum(gaps),
        "fan_in_claim": (claims[-1] - parent["fanned_in"]).total_seconds(),
        "fan_in_run": (parent["finished_at"] - claims[-1]).total_seconds(),
    }
    return path | stages


def report(
    combinations: int, single: dict[str, Any], sweeps: dict[int, dict[str, Any]], chunk: int
) -> None:
    if single["windows"] > 1:  # a walk-forward: every combination once per window
        print(f"walk-forward: {single['windows'] - 1} folds + the out-of-sample span")
        combinations *= single["windows"]
    print(
        f"grid as one run, 1 process : {single['seconds']:8.2f} s"
        f"  {combinations / single['seconds']:9.1f} combinations/s"
    )
    base = None
    for workers, result in sorted(sweeps.items()):
        rate = combinations / result["seconds"]
        base = base or rate
        efficiency = rate / (workers * base)
        print(
            f"sweep, {workers} process(es)     : {result['seconds']:8.2f} s"
            f"  {rate:9.1f} combinations/s  scaling efficiency {efficiency:6.1%}"
        )
    one = sweeps[min(sweeps)]
    children = one["children"]
    overhead = [c["wall"] - c["compute"] for c in children]
    share = sum(overhead) / sum(c["compute"] for c in children)
    print(
        f"children: {len(children)} of ~{chunk} combinations; per child "
        f"compute {statistics.mean(c['compute'] for c in children):.3f} s, "
        f"overhead median {statistics.median(overhead) * 1000:.1f} ms "
        f"({share:.1%} of compute)"
    )
    for workers, result in sorted(sweeps.items()):
        same = result["result"] == single["result"]
        print(
            f"sweep on {workers} process(es): metrics, best parameters, grid or walk-forward"
            f" summary, leaderboard.csv and trades.csv"
            f" {'identical to' if same else 'DIFFER from'} the one run's"
        )
    print(
        "timeline (s), one run: " + ", ".join(f"{k} {v:.3f}" for k, v in single["timeline"].items())
    )
    for workers, result in sorted(sweeps.items()):
        print(
            f"timeline (s), sweep on {workers} process(es): "
            + ", ".join(f"{k} {v:.3f}" for k, v in result["timeline"].items())
        )
    total = one["seconds"] - single["seconds"]
    print(
        f"sweep on 1 process vs one run: {total:+.2f} s "
        f"({total / len(children) * 1000:+.1f} ms per child, {total / single['seconds']:+.1%})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--combinations", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="process counts, comma-separated")
    parser.add_argument(
        "--engine-threads",
        type=int,
        help="ENGINE_THREADS of every worker process (default: the engine's, min(4, cores))",
    )
    parser.add_argument(
        "--walk-forward", metavar="TRAIN:TEST", help="bar counts: a walk-forward sweep instead"
    )
    args = parser.parse_args()
    grid = grid_for(args.combinations)
    combinations = len(grid["fast_period"]) * len(grid["slow_period"])
    name = f"bench_sweep_{uuid.uuid4().hex[:8]}"
    await admin(args.database_url, f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data, artifacts = Path(tmp, "data"), Path(tmp, "artifacts")
            bench = Bench(
                with_database(args.database_url, name), data, artifacts, args.engine_threads
            )
            started = time.perf_counter()
            await bench.setup(args.bars)
            print(
                f"{combinations} combinations on {args.bars} bars "
                f"(setup {time.perf_counter() - started:.1f} s); figures under shared load"
            )
            config = {
                "grid": grid,
                "max_combinations": max(100_000, combinations),
                "artifacts": ["leaderboard_csv", "trades_csv"],
            }
            if args.walk_forward:
                train, test = (int(v) for v in args.walk_forward.split(":"))
                config["walk_forward"] = {"train": train, "test": test}
            single = await bench.run(config, 1)
            sweeps = {
                int(w): await bench.run(
                    {**config, "sweep": {"chunk_size": args.chunk_size}}, int(w)
                )
                for w in args.workers.split(",")
            }
            report(combinations, single, sweeps, args.chunk_size)
    finally:
        await admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
