"""The demo: a real queue, real workers and the real engine on a generated dataset.

It migrates the database, imports a multi-symbol dataset, registers one strategy of each kind,
enqueues a batch (with a parameter grid and one deliberately bad run), starts worker processes
and follows them through LISTEN until the queue is empty.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from worker.config import Settings

DEMO_SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE"]
DEMO_BARS = 2520  # ten years of daily bars per symbol
DEMO_SEED = 20261125

SMA = {"kind": "sma_crossover", "fast_period": 20, "slow_period": 100}
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("buy and hold", {"kind": "buy_and_hold"}),
    ("sma 20/100", SMA),
    ("ema 12/26", {"kind": "ema_crossover", "fast_period": 12, "slow_period": 26}),
    ("rsi 14", {"kind": "rsi", "period": 14, "oversold": 30, "overbought": 70}),
    ("bollinger 20x2", {"kind": "bollinger", "period": 20, "num_std": 2.0}),
    ("breakout 55", {"kind": "breakout", "period": 55}),
    ("momentum top 2", {"kind": "momentum", "lookback": 60, "top_n": 2, "rebalance_every": 20}),
    (
        "rules: trend + rsi dip",
        {
            "kind": "rules",
            "entry_long": {
                "op": "and",
                "args": [
                    {"op": "gt", "args": ["close", {"op": "sma", "period": 200}]},
                    {"op": "lt", "args": [{"op": "rsi", "period": 14}, 40]},
                ],
            },
            "exit_long": {"op": "gt", "args": [{"op": "rsi", "period": 14}, 70]},
        },
    ),
]
COSTS = {"commission": 0.0005, "slippage_bps": 2}
GRID = {"fast_period": [5, 10, 15, 20, 30, 40, 50], "slow_period": [60, 80, 100, 150, 200, 250]}


@dataclass
class RunView:
    """What the demo shows of one run while it executes."""

    id: uuid.UUID
    label: str
    status: str = "pending"
    stage: str = "queued"
    pct: float = 0.0
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoPlan:
    dataset_id: uuid.UUID
    runs: list[RunView]


def generate_demo_bars(path: Path) -> Path:
    from worker.engine.synthetic import generate_bars

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_bars(symbols=DEMO_SYMBOLS, n_bars=DEMO_BARS, seed=DEMO_SEED).write_csv(path)
    return path


async def prepare(settings: Settings, workdir: Path, step: Callable[[str], None]) -> DemoPlan:
    """Import the dataset, register the strategies and enqueue the batch."""
    from worker.admin.datasets import import_dataset
    from worker.admin.runs import enqueue_many
    from worker.admin.strategies import create_strategy
    from worker.db.session import create_engine, create_session_factory
    from worker.schemas import RunCreate

    csv = await asyncio.to_thread(generate_demo_bars, workdir / "demo-bars.csv")
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            dataset = await import_dataset(
                session,
                csv,
                name="demo: 5 synthetic symbols, 10 years daily",
                timeframe="1d",
                symbol=None,
                data_dir=settings.data_dir,
                step=lambda stage: step(f"dataset: {stage}"),
            )
            step("registering strategies")
            specs: list[RunCreate] = []
            labels: list[str] = []
            for name, params in STRATEGIES:
                strategy, _ = await create_strategy(session, f"demo {name}", params)
                runs: list[tuple[str, dict[str, Any]]] = [(name, COSTS)]
                if params is SMA:
                    grid_size = len(GRID["fast_period"]) * len(GRID["slow_period"])
                    runs.append((f"sma grid ({grid_size} combinations)", {**COSTS, "grid": GRID}))
                    bad = {"params": {"fast_period": 200, "slow_period": 50}}
                    runs.append(("sma, bad override (fails)", bad))
                for label, config in runs:  # the label titles the report and `runs list`
                    specs.append(
                        RunCreate(
                            dataset_id=dataset.id,
                            strategy_id=strategy.id,
                            config={**config, "label": label, "tags": ["demo"]},
                        )
                    )
                    labels.append(label)
            step("enqueueing runs")
            ids = await enqueue_many(session, specs)
    finally:
        await engine.dispose()
    return DemoPlan(dataset.id, [RunView(i, label) for i, label in zip(ids, labels, strict=True)])


def start_workers(settings: Settings, count: int, concurrency: int, log_dir: Path) -> list[Any]:
    """Real `backtest-worker run --burst` processes, logging JSON lines to files."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": settings.asyncpg_dsn,
        "DATA_DIR": str(Path(settings.data_dir).resolve()),
        "ARTIFACT_DIR": str(Path(settings.artifact_dir).resolve()),
        "LOG_FORMAT": "json",
        "WORKER_CONCURRENCY": str(concurrency),
    }
    processes = []
    for number in range(1, count + 1):
        log = (log_dir / f"worker-{number}.log").open("ab")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "worker", "run", "--burst"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return processes


RESULT_QUERY = """
SELECT r.id, r.status::text AS status, r.total_return, r.sharpe_ratio, r.max_drawdown,
       r.total_trades, r.error, r.metadata -> 'best_params' AS best_params,
       (SELECT a.storage_path FROM artifacts a
         WHERE a.run_id = r.id AND a.filename = 'report.html') AS report
FROM runs r WHERE r.id = ANY($1::uuid[])
"""


async def follow(
    settings: Settings, plan: DemoPlan, refresh: Callable[[], None], workers: list[Any]
) -> None:
    """Track the batch with LISTEN run_progress / run_completed until every run is finished."""

    views = {view.id: view for view in plan.runs}
    connection = await asyncpg.connect(settings.asyncpg_dsn)

    def on_progress(_c: object, _pid: int, _channel: str, payload: object) -> None:
        data = json.loads(str(payload))
        view = views.get(uuid.UUID(data["run_id"]))
        if view is not None and view.status in ("pending", "running"):
            view.status, view.stage, view.pct = "running", data["stage"], data.get("pct") or 0.0
            refresh()

    def on_completed(_c: object, _pid: int, _channel: str, payload: object) -> None:
        data = json.loads(str(payload))
        view = views.get(uuid.UUID(data["run_id"]))
        if view is not None:
            view.status, view.stage, view.pct = data["status"], data["status"], 100.0
            refresh()

    await connection.add_listener("run_progress", on_progress)
    await connection.add_listener("run_completed", on_completed)
    try:
        ids = list(views)
        while True:
            for row in await connection.fetch(RESULT_QUERY, ids):
                view = views[row["id"]]
                view.row = dict(row)
                if row["status"] in ("succeeded", "failed", "cancelled"):
                    view.status, view.pct = row["status"], 100.0
            refresh()
            if all(v.status in ("succeeded", "failed", "cancelled") for v in views.values()):
                return
            if all(process.poll() is not None for process in workers):
                raise RuntimeError("the workers exited with runs still unfinished; see their logs")
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
