"""docs/grafana-dashboard.json asks only for metrics that the workers and the API serve, and
every served metric has a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from worker.observability.queue_gauges import QueueSnapshot, exposition
from worker.observability.worker_metrics import WorkerMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def served() -> tuple[set[str], set[str]]:
    """(every sample name served, every metric family name)."""
    metrics = WorkerMetrics()
    metrics.finished("succeeded", "", 0.1)
    metrics.leases_reaped.labels("pending").inc()
    snapshot = QueueSnapshot(
        depth=[{"status": "pending", "priority": 0, "runs": 1}],
        oldest_runnable_seconds=1.0,
        dead_tuple_ratio={"runs": 0.1, "events": None},
        notification_queue_usage=0.0,
        paused=False,
        workers={"running": 1},
    )
    text = generate_latest(metrics.registry).decode() + exposition(snapshot).decode()
    families = list(text_string_to_metric_families(text))
    samples = {s.name for family in families for s in family.samples}
    return samples, {family.name for family in families}


def test_the_dashboard_uses_served_metrics_and_covers_them() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"backtest_[a-z_]+", expr)}
    samples, families = served()
    assert used <= samples, used - samples
    uncovered = {
        family
        for family in families
        if not any(name == family or name.startswith(family + "_") for name in used)
    }
    assert uncovered == set()
