"""Queue-wide gauges, measured by the API process when Prometheus scrapes its `/metrics`.

They describe the shared queue, not one process: if every worker measured them, N workers
would run N copies of the same queries (and each scrape of each worker one more), for N
identical answers. One API process answers them with one statement per scrape; with several
API processes, scrape one (or de-duplicate with `max by`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.observability.sql import load
from worker.observability.worker_metrics import NAMESPACE


@dataclass(frozen=True)
class QueueSnapshot:
    depth: list[dict[str, Any]]
    oldest_runnable_seconds: float | None
    dead_tuple_ratio: dict[str, float | None]
    notification_queue_usage: float
    paused: bool
    workers: dict[str, int]


async def snapshot(db: Any, alive_within_seconds: float) -> QueueSnapshot:
    row = await db.fetchrow(load("queue_gauges"), alive_within_seconds)
    return QueueSnapshot(**dict(row))


class _Snapshot(Collector):
    def __init__(self, data: QueueSnapshot) -> None:
        self._data = data

    def collect(self) -> Iterator[Metric]:
        data = self._data
        depth = GaugeMetricFamily(
            f"{NAMESPACE}_queue_runs",
            "Pending and running runs, by status and priority.",
            labels=["status", "priority"],
        )
        for status in ("pending", "running"):  # both series exist even when zero
            if not any(d["status"] == status for d in data.depth):
                depth.add_metric([status, "0"], 0)
        for item in data.depth:
            depth.add_metric([item["status"], str(item["priority"])], item["runs"])
        yield depth
        yield GaugeMetricFamily(
            f"{NAMESPACE}_queue_oldest_runnable_age_seconds",
            "How long the oldest runnable pending run has waited (0 when none waits).",
            value=data.oldest_runnable_seconds or 0.0,
        )
        dead = GaugeMetricFamily(
            f"{NAMESPACE}_table_dead_tuple_ratio",
            "Dead tuples / all tuples of the table, from pg_stat_user_tables.",
            labels=["table"],
        )
        for table, ratio in sorted(data.dead_tuple_ratio.items()):
            dead.add_metric([table], 0.0 if ratio is None else ratio)
        yield dead
        yield GaugeMetricFamily(
            f"{NAMESPACE}_notification_queue_usage",
            "pg_notification_queue_usage(): the fraction of NOTIFY's queue in use (0 to 1).",
            value=data.notification_queue_usage,
        )
        yield GaugeMetricFamily(
            f"{NAMESPACE}_queue_paused",
            "1 while claiming is paused for the whole fleet.",
            value=1.0 if data.paused else 0.0,
        )
        workers = GaugeMetricFamily(
            f"{NAMESPACE}_workers",
            "Registered workers by state (running, stopping, stopped; silent: no recent beat).",
            labels=["state"],
        )
        for state in ("running", "stopping", "stopped", "silent"):
            workers.add_metric([state], data.workers.get(state, 0))
        yield workers


def exposition(data: QueueSnapshot) -> bytes:
    """The snapshot in Prometheus' text format (a fresh registry: no stale label sets)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(data))
    return generate_latest(registry)
