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
  burst     many runs inserted at once (one multi-row INSERT by default): runs/s (first INSERT →
            last run_completed)
            and p50/p99 latency;
with default artifacts and with `config.artifacts = []` (when this worker supports it), the
share of each stage (claim, load, simulate, render, store, complete) derived from what the
worker records (events, runs.started_at/finished_at, runs.metadata.timings), and the no-op
ceiling of the same number of worker processes (handler bench.queue_throughput:noop).

Warm-up runs (not counted) first let every worker process import its libraries and verify each
dataset's hash, which a long-lived production worker does once; their latency is shown as
"cold". Everything runs in its own database (created, migrated with `backtest-worker migrate`,
dropped at the end) and temporary directories; workers are stopped (SIGTERM, then SIGKILL) at
the end, on error and on Ctrl-C. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import asyncpg

from bench.queue_throughput import DEFAULT_SERVER, admin, env_for, percentile, with_database

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "backtest-worker"


def production_handler() -> str:
    """The handler `backtest-worker run` uses when none is given (it moves in refactors)."""
    try:
        from worker.cli.run import DEFAULT_HANDLER
    except ImportError:
        return "(the worker's default)"
    return str(DEFAULT_HANDLER)


NOOP_HANDLER = "bench.queue_throughput:noop"
STRATEGY = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}
CONFIG: dict[str, Any] = {"commission": 0.001}
ARTIFACTS_OFF: dict[str, Any] = {"artifacts": []}
# A window after the data: the run loads (and, the first time, hash-verifies) the dataset and
# fails at once with empty_window, so a warm-up costs no simulation and no rendering.
WARMUP_WINDOW: dict[str, Any] = {"start": "2999-01-01T00:00:00Z"}
TERMINAL = ("succeeded", "failed", "cancelled")
LIFECYCLE_EXCLUDED = ("trade_entry", "trade_exit", "metrics")
# Worker settings that must not leak from the caller's environment into the workers.
STRIPPED_ENV_PREFIXES = (
    "WORKER_",
    "LEASE_",
    "POLL_",
    "RUN_",
    "SHUTDOWN_",
    "RETRY_",
    "HEARTBEAT_",
    "DB_",
    "DATABASE_",
    "DATA_DIR",
    "ARTIFACT_DIR",
    "DATASET_CACHE_DIR",
    "LOG_",
    "ENV",
    "DEBUG",
)


@dataclass(frozen=True)
class Size:
    name: str
    symbols: tuple[str, ...]
    bars: int
    timeframe: str
    latency_runs: int
    burst_runs: int
    timeout: float  # seconds a single run may take before the benchmark gives up


SIZES: dict[str, Size] = {
    # burst counts: 300 small / 6 large took 593 s in all on this 2-core machine under load
    "small": Size("small", ("AAA",), 250, "1d", 30, 200, 120),
    "medium": Size("medium", ("AAA", "BBB", "CCC", "DDD", "EEE"), 2520, "1d", 10, 50, 180),
    "large": Size("large", ("AAA",), 1_000_000, "1m", 3, 4, 600),
}
# --quick: no large burst, and the large latency with the largest worker count only
QUICK_COUNTS = {"small": (5, 20), "medium": (3, 10), "large": (1, 0)}
QUICK_NOOP_RUNS = 300


# --- the Node side ------------------------------------------------------------------------


@dataclass
class Notified:
    perf: float
    wall: float
    status: str
    error_type: str | None


class NodeSide:
    """One connection inserts runs as Node does, one LISTENs on run_completed (same process)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.notified: dict[str, Notified] = {}
        self._changed = asyncio.Event()
        self.insert: asyncpg.Connection | None = None
        self.listen: asyncpg.Connection | None = None

    async def open(self) -> None:
        settings = {"application_name": "bench-e2e/node"}
        self.insert = await asyncpg.connect(self.url, server_settings=settings)
        self.listen = await asyncpg.connect(self.url, server_settings=settings)
        await self.listen.add_listener("run_completed", self._on_completed)

    async def close(self) -> None:
        for connection in (self.insert, self.listen):
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)

    def _on_completed(self, _c: object, _pid: int, _channel: str, payload: object) -> None:
        perf, wall = time.perf_counter(), time.time()
        data = json.loads(str(payload))
        self.notified[data["run_id"]] = Notified(
            perf, wall, data.get("status", "?"), data.get("error_type")
        )
        self._changed.set()

    @property
    def conn(self) -> asyncpg.Connection:
        assert self.insert is not None
        return self.insert

    async def insert_one(
        self, dataset: uuid.UUID, strategy: uuid.UUID, config: dict[str, Any]
    ) -> tuple[str, float, float]:
        """One autocommit INSERT; returns (run id, commit perf time, commit wall time)."""
        run_id = await self.conn.fetchval(INSERT_RUN, dataset, strategy, json.dumps(config))
        return str(run_id), time.perf_counter(), time.time()

    async def insert_burst(
        self,
        dataset: uuid.UUID,
        strategy: uuid.UUID,
        config: dict[str, Any],
        count: int,
        mode: str,
    ) -> tuple[list[tuple[str, float, float]], float]:
        """`count` runs: one multi-row INSERT (`statement`), single-row INSERTs in one
        transaction (`transaction`) or each committed on its own (`autocommit`).

        Returns [(run id, commit perf, commit wall)] and the perf time of the first INSERT."""
        body = json.dumps(config)
        first = time.perf_counter()
        if mode == "statement":
            rows = await self.conn.fetch(insert_many(count), dataset, strategy, body)
            perf, wall = time.perf_counter(), time.time()
            return [(str(row["id"]), perf, wall) for row in rows], first
        if mode == "autocommit":
            rows = [await self.insert_one(dataset, strategy, config) for _ in range(count)]
            return rows, first
        ids = []
        async with self.conn.transaction():
            for _ in range(count):
                ids.append(str(await self.conn.fetchval(INSERT_RUN, dataset, strategy, body)))
        perf, wall = time.perf_counter(), time.time()
        return [(run_id, perf, wall) for run_id in ids], first

    async def wait_all(self, ids: Iterable[str], within: float, workers: Workers) -> None:
        remaining = {i for i in ids if i not in self.notified}
        give_up = time.perf_counter() + within
        while remaining:
            left = give_up - time.perf_counter()
            if left <= 0:
                await self._explain_timeout(remaining)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 2.0))
            remaining = {i for i in remaining if i not in self.notified}
            if remaining:
                workers.check_alive()

    async def _explain_timeout(self, remaining: set[str]) -> None:
        rows = await self.conn.fetch(
            "SELECT status::text AS status, count(*) AS n FROM runs WHERE id = ANY($1::uuid[])"
            " GROUP BY 1",
            list(remaining),
        )
        states = ", ".join(f"{r['n']} {r['status']}" for r in rows)
        raise TimeoutError(f"{len(remaining)} run(s) without run_completed in time ({states})")


INSERT_RUN = (
    "INSERT INTO runs (dataset_id, strategy_id, initial_capital, config)"
    " VALUES ($1, $2, 10000, $3::jsonb) RETURNING id"
)


def insert_many(count: int) -> str:
    """Node's batch enqueue: one INSERT … VALUES (…), (…), … RETURNING id."""
    values = ", ".join(["($1, $2, 10000, $3::jsonb)"] * count)  # constants only
    return INSERT_RUN.replace("VALUES ($1, $2, 10000, $3::jsonb)", f"VALUES {values}")


# --- worker processes ----------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the worker gets SIGTERM if the benchmark dies without cleaning up (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def worker_env(url: str, dirs: dict[str, Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV_PREFIXES)}
    base = env_for(url)  # DATABASE_URL, PYTHONPATH, WORKER_ENV_FILE, LOG_LEVEL, LOG_FORMAT
    env.update({k: base[k] for k in ("DATABASE_URL", "PYTHONPATH", "WORKER_ENV_FILE")})
    env.update(
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        DATA_DIR=str(dirs["data"]),
        ARTIFACT_DIR=str(dirs["artifacts"]),
        DATASET_CACHE_DIR=str(dirs["cache"]),
    )
    return env


class Workers:
    """`count` real `backtest-worker run` processes (SIGTERM, then SIGKILL, on stop)."""

    live: ClassVar[list[Workers]] = []

    def __init__(
        self,
        env: dict[str, str],
        count: int,
        handler: str | None,
        concurrency: int | None,
        log_dir: Path,
        label: str,
    ) -> None:
        self.env, self.count, self.handler = env, count, handler
        self.concurrency, self.log_dir, self.label = concurrency, log_dir, label
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self) -> None:
        command = [str(BIN), "run"]
        if self.handler is not None:  # None: the worker's own default, the production handler
            command += ["--handler", self.handler]
        if self.concurrency is not None:
            command += ["--concurrency", str(self.concurrency)]
        Workers.live.append(self)
        for number in range(1, self.count + 1):
            log = self.log_dir / f"{self.label}-{number}.log"
            self.logs.append(log)
            with log.open("ab") as out:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        env=self.env,
                        cwd=ROOT,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                    )
                )

    async def ready(self, conn: asyncpg.Connection, within: float = 60) -> None:
        """Each of these processes has its LISTEN connection idle and its claim connection
        open (application_name is backtest-worker/<role>/<host>:<pid>:<suffix>)."""
        host = socket.gethostname().split(".")[0][:40] or "host"  # as worker/queue/worker_id.py

        def prefix(role: str, pid: int) -> str:
            return f"backtest-worker/{role}/{host}:{pid}:"[:63]

        pids = {process.pid for process in self.processes}
        give_up = time.perf_counter() + within
        while True:
            self.check_alive()
            rows = await conn.fetch(
                "SELECT application_name AS name, state FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE 'backtest-worker/%'"
            )
            listening = {
                pid
                for pid in pids
                for row in rows
                if row["name"].startswith(prefix("listen", pid)) and row["state"] == "idle"
            }
            claiming = {
                pid for pid in pids for row in rows if row["name"].startswith(prefix("claim", pid))
            }
            if listening == pids and claiming == pids:
                await asyncio.sleep(0.5)
                return
            if time.perf_counter() > give_up:
                raise TimeoutError(f"{self.label}: workers not ready after {within:.0f} s")
            await asyncio.sleep(0.05)

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(
                    f"worker {process.pid} ({self.label}) exited with {process.returncode}:\n{tail}"
                )

    def stop(self, grace: float = 10.0) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        if self in Workers.live:
            Workers.live.remove(self)


# --- stages -------------------------------------------------------------------------------

STAGES = ("claim", "load", "simulate", "render", "store", "complete", "other")


@dataclass
class RunSample:
    run_id: str
    commit_perf: float
    commit_wall: float
    notify_perf: float = math.nan
    notify_wall: float = math.nan
    status: str = "?"
    error_type: str | None = None

    @property
    def latency(self) -> float:
        return self.notify_perf - self.commit_perf


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _flat_timings(raw: Any) -> dict[str, float]:
    """Numeric entries of runs.metadata.timings, nested objects flattened with dots."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    out: dict[str, float] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in _flat_timings(value).items()})
            elif (number := _seconds(value)) is not None:
                out[str(key)] = number
    return out


# Bare keys that are worker stages. Not `load` or `simulate`: bare, those are the engine's
# own sub-stages (preparing the bars, the simulation loop), inside timings.total.
BARE_STAGE_KEYS = ("render", "store")


def _recorded(timings: dict[str, float], stage: str) -> tuple[float | None, str | None]:
    """A worker-recorded duration for a stage: `<stage>_seconds` (top level or nested), or
    for render and store also the bare `<stage>` key."""
    names = [f"{stage}_seconds", *([stage] if stage in BARE_STAGE_KEYS else [])]
    for name in names:
        for key, value in timings.items():
            if key == name or key.endswith(f".{name}"):
                return value, f"timings.{key}"
    return None, None


@dataclass
class StageRow:
    stage: str
    mean_ms: float | None
    share: float | None
    source: str


@dataclass
class StageReport:
    runs: int
    total_ms: float
    rows: list[StageRow]
    notes: list[str]
    timings_mean_ms: dict[str, float]
    events_seen: list[str]
    artifacts_per_run: float
    artifact_mb_per_run: float
    render_includes_store: bool


async def derive_stages(
    conn: asyncpg.Connection, samples: Sequence[RunSample], clock_offset: float, burst: bool
) -> StageReport | None:
    """Per-stage durations from events, runs timestamps and runs.metadata.timings.

    Spans on the wall clock (database timestamps moved to the client's clock by the measured
    offset; both are this machine's clock):
      A  INSERT commit → `claimed` event (runs.started_at): claim (wake-up + claim statement
         until its transaction began; in a burst also the time queued)
      B  `claimed` → `simulation_started` (or `dataset_loaded`): load (the rest of the claim
         statement, the run's inputs, dataset read and hash check, two event INSERTs)
      C  `simulation_started` → runs.finished_at: simulate + render + store (+ hand-off to
         the completer); split by timings.simulate_seconds|total, render_seconds, store_seconds
      D  runs.finished_at → run_completed received: complete (the final transaction: fenced
         UPDATE, artifact rows, trade-event COPY, commit, NOTIFY delivery)
    finished_at is the final transaction's now(), i.e. its start.
    """
    done = [s for s in samples if s.status == "succeeded"]
    if not done:
        return None
    ids = [s.run_id for s in done]
    runs = {
        str(r["id"]): r
        for r in await conn.fetch(
            "SELECT id, started_at, finished_at, metadata -> 'timings' AS timings"
            " FROM runs WHERE id = ANY($1::uuid[])",
            ids,
        )
    }
    events: dict[str, dict[str, float]] = {}
    seen: set[str] = set()
    for row in await conn.fetch(
        "SELECT run_id, event_type, timestamp FROM events"
        " WHERE run_id = ANY($1::uuid[]) AND event_type <> ALL($2::text[]) ORDER BY id",
        ids,
        list(LIFECYCLE_EXCLUDED),
    ):
        seen.add(row["event_type"])
        # the last attempt's events win (a retried run has several `claimed`)
        events.setdefault(str(row["run_id"]), {})[row["event_type"]] = (
            row["timestamp"].timestamp() - clock_offset
        )
    artifacts = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS bytes FROM artifacts"
        " WHERE run_id = ANY($1::uuid[])",
        ids,
    )

    per_stage: dict[str, list[float]] = {stage: [] for stage in STAGES}
    sources: dict[str, set[str]] = {stage: set() for stage in STAGES}
    timing_values: dict[str, list[float]] = {}
    totals: list[float] = []
    missing: set[str] = set()
    has_render = has_store = False

    for sample in done:
        run, ev = runs[sample.run_id], events.get(sample.run_id, {})
        timings = _flat_timings(run["timings"])
        for key, value in timings.items():
            timing_values.setdefault(key, []).append(value)

        def db_time(column: str) -> float | None:
            value = run[column]  # noqa: B023 (used at once)
            return None if value is None else value.timestamp() - clock_offset

        claimed, claim_source = ev.get("claimed"), "events.claimed"
        if claimed is None:
            claimed, claim_source = db_time("started_at"), "runs.started_at"
            missing.add("claimed event")
        sim_start, sim_source = ev.get("simulation_started"), "simulation_started"
        if sim_start is None:
            sim_start, sim_source = ev.get("dataset_loaded"), "dataset_loaded"
            missing.add("simulation_started event")
        finished, finished_source = db_time("finished_at"), "runs.finished_at"
        if finished is None:
            finished, finished_source = ev.get("completed"), "events.completed"
        if claimed is None or finished is None:
            missing.add("claim or finish time")
            continue
        totals.append(sample.notify_wall - sample.commit_wall)
        stage = dict.fromkeys(STAGES, 0.0)
        stage["claim"] = claimed - sample.commit_wall
        sources["claim"].add(f"INSERT commit → {claim_source}")
        stage["complete"] = sample.notify_wall - finished
        sources["complete"].add(f"{finished_source} → run_completed received")
        load, load_key = _recorded(timings, "load")
        simulate, simulate_key = _recorded(timings, "simulate")
        if simulate is None:  # the engine's own total (top level today, maybe nested later)
            for key, value in timings.items():
                if key == "total" or (key.endswith(".total") and key.count(".") == 1):
                    simulate, simulate_key = value, f"timings.{key} (engine)"
                    break
        render, render_key = _recorded(timings, "render")
        store, store_key = _recorded(timings, "store")
        has_render |= render is not None
        has_store |= store is not None

        if sim_start is None:  # no event between claim and finish: B and C are one span
            span_b, span_c = 0.0, finished - claimed
            missing.add("dataset_loaded event")
        else:
            span_b, span_c = sim_start - claimed, finished - sim_start
        if load is not None:
            stage["load"] = load
            stage["other"] += span_b - load
            sources["load"].add(load_key or "")
            if sim_start is None:
                span_c -= load
        elif sim_start is not None:
            stage["load"] = span_b
            sources["load"].add(f"{claim_source} → {sim_source}")
        rest = span_c
        for name, value, key in (
            ("simulate", simulate, simulate_key),
            ("render", render, render_key),
            ("store", store, store_key),
        ):
            if value is not None:
                stage[name] = value
                rest -= value
                sources[name].add(key or "")
        if sim_start is None and load is None:
            stage["load"] = rest  # not separable: see the notes
            sources["load"].add(f"{claim_source} → {finished_source} minus the recorded stages")
        elif render is None and store is None:
            stage["render"] = rest  # render + store + hand-off: see the notes
            sources["render"].add(f"{sim_source} → {finished_source} minus {simulate_key}")
        else:
            stage["other"] += rest
        for name in STAGES:
            per_stage[name].append(stage[name])

    if not per_stage["claim"]:
        return None
    total_ms = statistics.fmean(totals) * 1000
    notes: list[str] = []
    if not has_render and not has_store:
        notes.append(
            "render and store are not separable at this commit: both happen in one worker step"
            " (render_files + store_files), followed by the trade-event CSV and the hand-off to"
            " the completer, with no event or timing between or after them; the 'render' column"
            " is render + store + hand-off (simulation_started → finished_at minus the engine's"
            " timings.total), 'store' is n/a"
        )
    elif not has_store:
        notes.append("store not recorded (no timings.store_seconds): it is inside 'other'")
    elif not has_render:
        notes.append("render not recorded (no timings.render_seconds): it is inside 'other'")
    notes.append(
        "the final transaction's database writes (artifact rows, trade-event COPY, metrics"
        " event, status UPDATE, commit) are inside 'complete': finished_at is its start and"
        " nothing is recorded inside it"
    )
    notes.append(
        "'claim' starts when the INSERT's commit acknowledgement reached the client; the"
        " worker, woken by the same commit, can begin its claim a little earlier (hence"
        " values at or below 0 on an idle worker)"
    )
    if burst:
        notes.append("burst: 'claim' includes the time each run waited in the queue")
    if missing:
        notes.append(f"missing for some runs (fallbacks used): {', '.join(sorted(missing))}")
    rows = []
    for name in STAGES:
        values = per_stage[name]
        if name == "other" and not any(abs(v) > 1e-9 for v in values):
            continue
        if not sources[name] and name != "other":
            rows.append(StageRow(name, None, None, "not recorded"))
            continue
        mean = statistics.fmean(values) * 1000
        source = "; ".join(sorted(sources[name])) or "remainder of the recorded spans"
        rows.append(StageRow(name, mean, mean / total_ms, source))
    n_art, n_bytes = int(artifacts["n"]), int(artifacts["bytes"])
    return StageReport(
        runs=len(per_stage["claim"]),
        total_ms=total_ms,
        rows=rows,
        notes=notes,
        timings_mean_ms={k: statistics.fmean(v) * 1000 for k, v in sorted(timing_values.items())},
        events_seen=sorted(seen),
        artifacts_per_run=n_art / len(done),
        artifact_mb_per_run=n_bytes / len(done) / 1e6,
        render_includes_store=not has_render and not has_store,
    )


# --- scenarios ----------------------------------------------------------------------------


@dataclass
class Scenario:
    kind: str  # latency | burst | noop
    size: str
    workers: int
    artifacts: str  # default | off
    runs: int
    succeeded: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    runs_per_s: float | None = None
    runs_per_s_from_commit: float | None = None
    elapsed_s: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    stages: StageReport | None = None

    @property
    def title(self) -> str:
        return f"{self.size} {self.kind} {self.workers}w art={self.artifacts}"


def summarise(scenario: Scenario, samples: Sequence[RunSample]) -> None:
    latencies = [s.latency * 1000 for s in samples]
    scenario.latencies_ms = [round(v, 3) for v in latencies]
    scenario.succeeded = sum(s.status == "succeeded" for s in samples)
    for s in samples:
        if s.status != "succeeded":
            key = f"{s.status}:{s.error_type}"
            scenario.failed[key] = scenario.failed.get(key, 0) + 1
    if latencies:
        scenario.p50_ms = percentile(latencies, 0.5)
        scenario.p99_ms = percentile(latencies, 0.99)
        scenario.max_ms = max(latencies)
        scenario.mean_ms = statistics.fmean(latencies)


def fill(node: NodeSide, samples: Sequence[RunSample]) -> None:
    for sample in samples:
        seen = node.notified[sample.run_id]
        sample.notify_perf, sample.notify_wall = seen.perf, seen.wall
        sample.status, sample.error_type = seen.status, seen.error_type


async def latency_scenario(
    ctx: Bench, size: Size, workers: Workers, config: dict[str, Any], artifacts: str, runs: int
) -> Scenario:
    scenario = Scenario("latency", size.name, workers.count, artifacts, runs)
    samples = []
    for _ in range(runs):
        await asyncio.sleep(0.2)  # the worker is idle again (completion and heartbeat settle)
        run_id, perf, wall = await ctx.node.insert_one(
            ctx.datasets[size.name], ctx.strategy, config
        )
        sample = RunSample(run_id, perf, wall)
        await ctx.node.wait_all([run_id], size.timeout, workers)
        fill(ctx.node, [sample])
        samples.append(sample)
    summarise(scenario, samples)
    scenario.stages = await derive_stages(ctx.node.conn, samples, ctx.clock_offset, burst=False)
    return scenario


async def burst_scenario(
    ctx: Bench,
    size: Size,
    workers: Workers,
    config: dict[str, Any],
    artifacts: str,
    runs: int,
    kind: str = "burst",
) -> Scenario:
    scenario = Scenario(kind, size.name, workers.count, artifacts, runs)
    await asyncio.sleep(0.5)
    rows, first = await ctx.node.insert_burst(
        ctx.datasets[size.name], ctx.strategy, config, runs, ctx.args.burst_insert
    )
    samples = [RunSample(*row) for row in rows]
    budget = 60 + size.timeout * math.ceil(runs / max(1, workers.count))
    await ctx.node.wait_all([s.run_id for s in samples], budget, workers)
    fill(ctx.node, samples)
    last = max(s.notify_perf for s in samples)
    scenario.elapsed_s = last - first
    scenario.runs_per_s = runs / scenario.elapsed_s
    scenario.runs_per_s_from_commit = runs / (last - min(s.commit_perf for s in samples))
    summarise(scenario, samples)
    if kind != "noop":
        scenario.stages = await derive_stages(ctx.node.conn, samples, ctx.clock_offset, burst=True)
    return scenario


# --- the benchmark ------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    node: NodeSide
    env: dict[str, str]
    dirs: dict[str, Path]
    datasets: dict[str, uuid.UUID] = field(default_factory=dict)
    strategy: uuid.UUID = field(default_factory=uuid.uuid4)  # set by setup()
    clock_offset: float = 0.0
    artifacts_off: str = "untested"  # supported | not supported (…) | untested


async def clock_offset(conn: asyncpg.Connection) -> tuple[float, float]:
    """(server clock − client clock, ± half the round trip), best of 20 probes."""
    best: tuple[float, float] | None = None
    for _ in range(20):
        before = time.time()
        server = (await conn.fetchval("SELECT clock_timestamp()")).timestamp()
        after = time.time()
        probe = (server - (before + after) / 2, (after - before) / 2)
        if best is None or probe[1] < best[1]:
            best = probe
    assert best is not None
    return best


async def run_cli(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(BIN),
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, err = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"backtest-worker {args[0]} failed: {err.decode()[-2000:]}")
    return out.decode()


def write_bars(size: Size, path: Path) -> Path:
    from worker.engine.synthetic import generate_bars

    bars = generate_bars(symbols=size.symbols, n_bars=size.bars, timeframe=size.timeframe, seed=7)
    bars.write_parquet(path)
    return path


async def setup(ctx: Bench, sizes: list[Size]) -> list[str]:
    """Migrate, generate and import the datasets (the CLI's import path), create the strategy."""
    facts = []
    started = time.perf_counter()
    await run_cli(ctx.env, "migrate")
    facts.append(f"migrated in {time.perf_counter() - started:.1f} s")

    async def one(size: Size) -> str:
        t0 = time.perf_counter()
        path = await asyncio.to_thread(write_bars, size, ctx.dirs["input"] / f"{size.name}.parquet")
        out = await run_cli(
            ctx.env,
            "dataset",
            "import",
            str(path),
            "--name",
            f"bench {size.name}",
            "--timeframe",
            size.timeframe,
        )
        ctx.datasets[size.name] = uuid.UUID(out.strip().splitlines()[-1])
        return (
            f"{size.name}: {len(size.symbols)} symbol(s) × {size.bars:,} {size.timeframe} bars"
            f" = {len(size.symbols) * size.bars:,} rows (generated + imported in"
            f" {time.perf_counter() - t0:.1f} s)"
        )

    facts += await asyncio.gather(*(one(size) for size in sizes))
    out = await run_cli(
        ctx.env, "strategy", "create", "--name", "bench sma 10/50", "--params", json.dumps(STRATEGY)
    )
    ctx.strategy = uuid.UUID(out.strip().splitlines()[-1])
    return facts


async def warm_up(ctx: Bench, workers: Workers, sizes: list[Size]) -> list[str]:
    """Imports, fonts, pools: real small runs; each dataset's hash check: empty-window runs."""
    per_process = workers.count * (workers.concurrency or ctx.args.default_concurrency)
    run_id, perf, _ = await ctx.node.insert_one(ctx.datasets["small"], ctx.strategy, CONFIG)
    await ctx.node.wait_all([run_id], 300, workers)
    cold = (ctx.node.notified[run_id].perf - perf) * 1000
    rows, _ = await ctx.node.insert_burst(
        ctx.datasets["small"], ctx.strategy, CONFIG, 2 * per_process, "statement"
    )
    await ctx.node.wait_all([r[0] for r in rows], 300, workers)
    ids = []
    for size in sizes:
        batch, _ = await ctx.node.insert_burst(
            ctx.datasets[size.name],
            ctx.strategy,
            {**CONFIG, **WARMUP_WINDOW},
            2 * per_process,
            "statement",
        )
        ids += [r[0] for r in batch]
    await ctx.node.wait_all(ids, 300, workers)
    coverage = await ctx.node.conn.fetch(
        "SELECT r.dataset_id, count(DISTINCT e.payload ->> 'worker_id') AS workers"
        " FROM runs r JOIN events e ON e.run_id = r.id AND e.event_type = 'claimed'"
        " WHERE r.id = ANY($1::uuid[]) GROUP BY 1",
        ids,
    )
    names = {v: k for k, v in ctx.datasets.items()}
    covered = ", ".join(
        f"{names[row['dataset_id']]} {row['workers']}/{workers.count}" for row in coverage
    )
    return [
        f"warm-up: 1 + {len(rows)} real small runs (the first, on a cold worker: {cold:.0f} ms)"
        " and"
        f" {len(ids)} empty-window runs loading each dataset (workers that loaded it: {covered})"
    ]


async def probe_artifacts_off(ctx: Bench, workers: Workers) -> str:
    run_id, _, _ = await ctx.node.insert_one(
        ctx.datasets["small"], ctx.strategy, {**CONFIG, **ARTIFACTS_OFF}
    )
    await ctx.node.wait_all([run_id], 120, workers)
    seen = ctx.node.notified[run_id]
    if seen.status != "succeeded":
        return f"not supported by this worker (the run {seen.status}: {seen.error_type})"
    rows = await ctx.node.conn.fetchval(
        "SELECT count(*) FROM artifacts WHERE run_id = $1::uuid", run_id
    )
    if rows:
        return f"not supported by this worker (config.artifacts=[] ignored: {rows} artifact rows)"
    return "supported"


async def real_workers(
    ctx: Bench, count: int, sizes: list[Size]
) -> tuple[list[Scenario], list[str]]:
    workers = Workers(
        ctx.env,
        count,
        None,
        ctx.args.concurrency,
        ctx.dirs["logs"],
        f"real-{count}w",
    )
    scenarios: list[Scenario] = []
    notes: list[str] = []
    workers.start()
    try:
        await workers.ready(ctx.node.conn)
        if not ctx.args.no_warmup:
            notes += [f"{count} worker(s) {line}" for line in await warm_up(ctx, workers, sizes)]
        if "off" in ctx.args.artifacts and ctx.artifacts_off == "untested":
            ctx.artifacts_off = await probe_artifacts_off(ctx, workers)
            print(f"artifacts-off: {ctx.artifacts_off}", flush=True)
        modes = [("default", CONFIG)] if "default" in ctx.args.artifacts else []
        if "off" in ctx.args.artifacts and ctx.artifacts_off == "supported":
            modes.append(("off", {**CONFIG, **ARTIFACTS_OFF}))
        for size in sizes:
            if ctx.args.quick and size.name == "large" and count != max(ctx.args.worker_counts):
                continue  # --quick: the large size with the largest worker count only
            for label, config in modes:
                if "latency" in ctx.args.scenarios and size.latency_runs:
                    s = await latency_scenario(ctx, size, workers, config, label, size.latency_runs)
                    scenarios.append(s)
                    progress(s)
                if "burst" in ctx.args.scenarios and size.burst_runs:
                    s = await burst_scenario(ctx, size, workers, config, label, size.burst_runs)
                    scenarios.append(s)
                    progress(s)
    finally:
        workers.stop()
    return scenarios, notes


async def noop_ceiling(ctx: Bench, count: int) -> Scenario:
    workers = Workers(
        ctx.env, count, NOOP_HANDLER, ctx.args.concurrency, ctx.dirs["logs"], f"noop-{count}w"
    )
    workers.start()
    try:
        await workers.ready(ctx.node.conn)
        noop = Size("no-op", ("-",), 0, "-", 0, ctx.args.noop_runs, 0.5)
        ctx.datasets["no-op"] = ctx.datasets["small"]
        scenario = await burst_scenario(
            ctx, noop, workers, CONFIG, "n/a", ctx.args.noop_runs, kind="noop"
        )
        progress(scenario)
        return scenario
    finally:
        workers.stop()


def progress(s: Scenario) -> None:
    rate = f", {s.runs_per_s:.2f} runs/s" if s.runs_per_s else ""
    print(
        f"  done: {s.title}: {s.succeeded}/{s.runs} succeeded, p50 {fmt(s.p50_ms)} ms{rate}",
        file=sys.stderr,
        flush=True,
    )


# --- output -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < right else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def failures(s: Scenario) -> str:
    return ", ".join(f"{n} {k}" for k, n in s.failed.items()) or "-"


def report(scenarios: list[Scenario], noop: list[Scenario], artifacts_off: str) -> str:
    out: list[str] = []
    latency = [s for s in scenarios if s.kind == "latency"]
    burst = [s for s in scenarios if s.kind == "burst"]
    if latency:
        out.append(
            "\n== latency: one run at a time on an idle worker (INSERT commit → run_completed received) =="
        )
        out.append(
            table(
                [
                    "size",
                    "workers",
                    "artifacts",
                    "runs",
                    "ok",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "mean ms",
                    "not ok",
                ],
                [
                    [
                        s.size,
                        str(s.workers),
                        s.artifacts,
                        str(s.runs),
                        str(s.succeeded),
                        fmt(s.p50_ms),
                        fmt(s.p99_ms),
                        fmt(s.max_ms),
                        fmt(s.mean_ms),
                        failures(s),
                    ]
                    for s in latency
                ],
                right=3,
            )
        )
    if burst:
        out.append(
            "\n== burst: runs inserted in one go (runs/s: first INSERT → last run_completed) =="
        )
        out.append(
            table(
                [
                    "size",
                    "workers",
                    "artifacts",
                    "runs",
                    "ok",
                    "runs/s",
                    "runs/s from commit",
                    "elapsed s",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "not ok",
                ],
                [
                    [
                        s.size,
                        str(s.workers),
                        s.artifacts,
                        str(s.runs),
                        str(s.succeeded),
                        fmt(s.runs_per_s, 2),
                        fmt(s.runs_per_s_from_commit, 2),
                        fmt(s.elapsed_s, 2),
                        fmt(s.p50_ms),
                        fmt(s.p99_ms),
                        fmt(s.max_ms),
                        failures(s),
                    ]
                    for s in burst
                ],
                right=3,
            )
        )
    if artifacts_off.startswith("not supported"):
        out.append(f"\nartifacts-off: {artifacts_off}")
    staged = [s for s in scenarios if s.stages is not None]
    if staged:
        out.append(
            "\n== stages: mean ms per succeeded run (share of INSERT commit → run_completed) =="
        )
        merged = all(s.stages.render_includes_store for s in staged if s.stages)
        headers = ["scenario", "total ms", *STAGES]
        if merged:
            headers[headers.index("render")] = "render+store"
        rows = []
        for s in staged:
            assert s.stages is not None
            by = {r.stage: r for r in s.stages.rows}
            cells = []
            for name in STAGES:
                r = by.get(name)
                if r is None or r.mean_ms is None:
                    cells.append("n/a" if name in ("render", "store") else "-")
                else:
                    cells.append(f"{fmt(r.mean_ms)} {100 * (r.share or 0):.0f}%")
            rows.append([s.title, fmt(s.stages.total_ms), *cells])
        out.append(table(headers, rows))
        out.append("\nwhere each stage comes from:")
        first = staged[0].stages
        assert first is not None
        sources: dict[str, set[str]] = {}
        for s in staged:
            assert s.stages is not None
            for r in s.stages.rows:
                sources.setdefault(r.stage, set()).add(r.source)
        for name in STAGES:
            if name in sources:
                out.append(f"  {name:<9} {'; '.join(sorted(sources[name]))}")
        notes = sorted({n for s in staged if s.stages for n in s.stages.notes})
        for note in notes:
            out.append(f"  note: {note}")
        events = sorted({e for s in staged if s.stages for e in s.stages.events_seen})
        out.append(f"  lifecycle events recorded: {', '.join(events)}")
        out.append("\n== worker-recorded runs.metadata.timings (mean ms) and artifacts per run ==")
        keys = sorted({k for s in staged if s.stages for k in s.stages.timings_mean_ms})
        out.append(
            table(
                ["scenario", *keys, "artifacts", "MB"],
                [
                    [
                        s.title,
                        *(fmt(s.stages.timings_mean_ms.get(k), 2) for k in keys),
                        fmt(s.stages.artifacts_per_run),
                        fmt(s.stages.artifact_mb_per_run, 2),
                    ]
                    for s in staged
                    if s.stages
                ],
            )
        )
    if noop:
        out.append(
            "\n== no-op ceiling: same worker processes, handler bench.queue_throughput:noop =="
        )
        out.append(
            table(
                [
                    "workers",
                    "runs",
                    "ok",
                    "runs/s",
                    "runs/s from commit",
                    "elapsed s",
                    "p50 ms",
                    "p99 ms",
                ],
                [
                    [
                        str(s.workers),
                        str(s.runs),
                        str(s.succeeded),
                        fmt(s.runs_per_s, 0),
                        fmt(s.runs_per_s_from_commit, 0),
                        fmt(s.elapsed_s, 2),
                        fmt(s.p50_ms),
                        fmt(s.p99_ms),
                    ]
                    for s in noop
                ],
            )
        )
    return "\n".join(out)


def machine_facts() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = "?"
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    import polars

    from worker.engine.api import ENGINE_VERSION

    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "polars": polars.__version__,
        "worker_commit": commit,
        "engine_version": ENGINE_VERSION,
    }


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def parse_counts(spec: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in (spec or "").split(","):
        if part.strip():
            name, _, value = part.partition("=")
            if name.strip() not in SIZES or not value.strip().isdigit():
                raise SystemExit(f"bad count {part!r}: expected e.g. small=30,large=3")
            out[name.strip()] = int(value)
    return out


def choose_sizes(args: argparse.Namespace) -> list[Size]:
    names = [n.strip() for n in args.sizes.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        raise SystemExit(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    latency, burst, bars = (
        parse_counts(args.latency_runs),
        parse_counts(args.burst_runs),
        parse_counts(args.bars),
    )
    chosen = []
    for name in names:
        size = SIZES[name]
        lat, bur = QUICK_COUNTS[name] if args.quick else (size.latency_runs, size.burst_runs)
        chosen.append(
            Size(
                name,
                size.symbols,
                bars.get(name, size.bars),
                size.timeframe,
                latency.get(name, lat),
                burst.get(name, bur),
                size.timeout,
            )
        )
    return chosen


async def bench(args: argparse.Namespace) -> int:
    sizes = choose_sizes(args)
    suffix = uuid.uuid4().hex[:8]
    name = f"bench_e2e_{suffix}"
    url = with_database(args.database_url, name)
    work = Path(tempfile.mkdtemp(prefix=f"bench-e2e-{suffix}-"))
    dirs = {k: work / k for k in ("data", "artifacts", "cache", "logs", "input")}
    for path in dirs.values():
        path.mkdir()
    node = NodeSide(url)
    ctx = Bench(args, node, worker_env(url, dirs), dirs)
    created = False
    load_start, load_end = uptime(), ""
    result: dict[str, Any] = {"machine": machine_facts(), "load_start": load_start}
    try:
        await admin(args.database_url, f'CREATE DATABASE "{name}"')
        created = True
        print("== machine ==")
        facts = result["machine"]
        version = await asyncpg_version(args.database_url)
        result["machine"]["postgresql"] = version
        print(f"cores: {facts['cores']} ({facts['cpu']}); PostgreSQL {version}")
        print(
            f"Python {facts['python']}, polars {facts['polars']}, worker commit {facts['worker_commit']}, engine {facts['engine_version']}"
        )
        print(f"at start: {load_start}")
        setup_facts = await setup(ctx, [SIZES["small"], *[s for s in sizes if s.name != "small"]])
        await node.open()
        ctx.clock_offset, error = await clock_offset(node.conn)
        concurrency = args.concurrency or args.default_concurrency
        print("\n== setup ==")
        for line in setup_facts:
            print(line)
        print(
            f"strategy {json.dumps(STRATEGY)}; run config {json.dumps(CONFIG)} (artifacts off: + {json.dumps(ARTIFACTS_OFF)})"
        )
        print(
            f"workers: backtest-worker run (default handler: {production_handler()}), concurrency"
            f" {concurrency}{' (default)' if args.concurrency is None else ''},"
            f" {', '.join(map(str, args.worker_counts))} process(es); burst INSERTs: {args.burst_insert}"
        )
        print(
            f"clock: database − client {ctx.clock_offset * 1000:+.2f} ms (± {error * 1000:.2f} ms), applied to database timestamps"
        )
        sys.stdout.flush()
        scenarios: list[Scenario] = []
        notes: list[str] = []
        for count in args.worker_counts:
            found, more = await real_workers(ctx, count, sizes)
            scenarios += found
            notes += more
        noop = []
        if args.noop_runs:
            for count in args.worker_counts:
                noop.append(await noop_ceiling(ctx, count))
        for line in notes:
            print(line)
        print(report(scenarios, noop, ctx.artifacts_off))
        load_end = uptime()
        print(f"\nat end: {load_end}")
        result.update(
            load_end=load_end,
            setup=setup_facts,
            notes=notes,
            clock_offset_ms=ctx.clock_offset * 1000,
            concurrency=concurrency,
            strategy=STRATEGY,
            config=CONFIG,
            artifacts_off=ctx.artifacts_off,
            sizes=[asdict(s) for s in sizes],
            scenarios=[asdict(s) for s in scenarios],
            noop=[asdict(s) for s in noop],
        )
        if args.json:
            text = json.dumps(result, indent=2, default=str)
            await asyncio.to_thread(Path(args.json).write_text, text)
            print(f"figures written to {args.json}")
        return 0
    finally:
        for workers in list(Workers.live):
            workers.stop(grace=5)
        await node.close()
        if created:
            try:
                await asyncio.wait_for(
                    admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), 30
                )
            except Exception as error:
                print(f"could not drop database {name}: {error}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


async def asyncpg_version(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


async def main_async(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not STOPPED_BY:  # a second signal does not interrupt the cleanup
            STOPPED_BY.append(signum)
            task.cancel()

    # SIGINT too, explicitly: a background job inherits SIGINT ignored, and asyncio's own
    # Ctrl-C handling would then never fire.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    return await bench(args)


STOPPED_BY: list[int] = []


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.end_to_end",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Sizes: small 1×250 1d, medium 5×2,520 1d, large 1×1,000,000 1m. Defaults:"
        f" latency runs {','.join(f'{k}={v.latency_runs}' for k, v in SIZES.items())};"
        f" burst runs {','.join(f'{k}={v.burst_runs}' for k, v in SIZES.items())}; no-op 2000."
        f" --quick: latency {','.join(f'{k}={v[0]}' for k, v in QUICK_COUNTS.items())},"
        f" burst {','.join(f'{k}={v[1]}' for k, v in QUICK_COUNTS.items())}, no-op {QUICK_NOOP_RUNS};"
        " large with the largest worker count only.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="server to create the benchmark database on (default %(default)s)",
    )
    parser.add_argument(
        "--sizes", default="small,medium,large", help="comma-separated (default %(default)s)"
    )
    parser.add_argument(
        "--workers", default="1,2", help="worker process counts (default %(default)s)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="--concurrency of each worker (default: the worker's own default)",
    )
    parser.add_argument("--latency-runs", help="override latency run counts, e.g. small=30,large=3")
    parser.add_argument("--burst-runs", help="override burst run counts, e.g. small=300,large=6")
    parser.add_argument("--bars", help="override bars per symbol, e.g. large=200000")
    parser.add_argument(
        "--noop-runs", type=int, default=None, help="no-op burst size (default 2000; 0 skips)"
    )
    parser.add_argument(
        "--scenarios", default="latency,burst", help="latency,burst (default %(default)s)"
    )
    parser.add_argument(
        "--artifacts", default="default,off", help="default,off (default %(default)s)"
    )
    parser.add_argument(
        "--burst-insert",
        choices=("statement", "transaction", "autocommit"),
        default="statement",
        help="a burst is one multi-row INSERT … VALUES (…), (…) RETURNING id, single-row INSERTs"
        " in one transaction, or single-row INSERTs each committed (default %(default)s)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="measure cold workers")
    parser.add_argument("--quick", action="store_true", help="small counts: under ~2 minutes")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    args.scenarios = {s.strip() for s in args.scenarios.split(",")}
    args.artifacts = {s.strip() for s in args.artifacts.split(",")}
    if args.noop_runs is None:
        args.noop_runs = QUICK_NOOP_RUNS if args.quick else 2000
    from worker.config import Settings

    args.default_concurrency = int(Settings.model_fields["worker_concurrency"].default)
    try:
        sys.exit(asyncio.run(main_async(args)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        signum = STOPPED_BY[0] if STOPPED_BY else signal.SIGINT
        print(
            f"stopped by {signal.Signals(signum).name}: workers stopped, database dropped,"
            " temporary files removed",
            file=sys.stderr,
        )
        sys.exit(128 + signum)


if __name__ == "__main__":
    main()
