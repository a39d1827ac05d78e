"""What each dashboard page shows, read with the API's own queries (and the throughput
statement), and the templates that render it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.datastructures import QueryParams

from worker.api import queries
from worker.api.context import ApiContext
from worker.api.dashboard.sql import load
from worker.api.models import decode_id_cursor, decode_time_cursor, encode_cursor
from worker.api.problems import Problem
from worker.api.routes.fleet import QueueOut, queue_summary
from worker.db.enums import RunStatus
from worker.observability import queue_gauges
from worker.queue import fleet
from worker.results.metric_labels import format_metric, metric_rows

PAGE_SIZE = 50
EVENTS_PAGE = 100
CATALOG_SHOWN = 500  # strategies and datasets offered as filters (their first 500)
PAYLOAD_SHOWN = 400  # characters of an event's payload in the events table


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return ""
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    if seconds < 0:
        return "now"
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _metric(name: str, value: Decimal | float | int | None) -> str:
    return "" if value is None else format_metric(name, float(value))


def _payload(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= PAYLOAD_SHOWN else text[: PAYLOAD_SHOWN - 1] + "…"


templates = jinja2.Environment(
    loader=jinja2.PackageLoader("worker.api.dashboard", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
templates.filters.update(ago=_ago, age=_age, metric=_metric, payload=_payload)
templates.globals.update(
    short=lambda run_id: str(run_id)[:8], statuses=[s.value for s in RunStatus]
)


def render(name: str, **values: Any) -> str:
    return templates.get_template(name).render(**values)


@dataclass(frozen=True)
class Overview:
    queue: QueueOut
    depth: list[dict[str, Any]]
    oldest_runnable_seconds: float | None
    throughput: list[dict[str, Any]]
    workers: list[fleet.RegisteredWorker]


async def overview(context: ApiContext) -> Overview:
    queue = await queue_summary(context)
    async with context.pool.acquire() as connection:
        gauges = await queue_gauges.snapshot(connection, context.settings.lease_seconds)
        throughput = [dict(r) for r in await connection.fetch(load("throughput"))]
        workers = await fleet.list_workers(connection, context.settings.lease_seconds)
    depth = sorted(gauges.depth, key=lambda d: (d["status"], -d["priority"]))
    return Overview(queue, depth, gauges.oldest_runnable_seconds, throughput, workers)


def _uuid(params: QueryParams, name: str) -> uuid.UUID | None:
    text = params.get(name) or None
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Problem(422, f"{name} {text!r} is not an id", slug="validation") from None


@dataclass(frozen=True)
class RunsQuery:
    """The runs table's filters and page, from the query string (empty fields: no filter)."""

    status: str | None = None
    strategy: uuid.UUID | None = None
    dataset: uuid.UUID | None = None
    label: str | None = None
    cursor: str | None = None

    @classmethod
    def parse(cls, params: QueryParams) -> RunsQuery:
        status = params.get("status") or None
        if status is not None and status not in {s.value for s in RunStatus}:
            raise Problem(422, f"status {status!r} is not a run status", slug="validation")
        label = (params.get("label") or "").strip()[:200] or None
        return cls(
            status, _uuid(params, "strategy"), _uuid(params, "dataset"), label,
            params.get("cursor") or None,
        )  # fmt: skip

    def query_string(self, cursor: str | None) -> str:
        pairs = {
            "status": self.status,
            "strategy": self.strategy,
            "dataset": self.dataset,
            "label": self.label,
            "cursor": cursor,
        }
        return urlencode({k: str(v) for k, v in pairs.items() if v is not None})


@dataclass(frozen=True)
class RunsPage:
    where: RunsQuery
    runs: list[dict[str, Any]]
    next_query: str | None
    first_query: str
    strategies: dict[uuid.UUID, str] = field(default_factory=dict)
    datasets: dict[uuid.UUID, str] = field(default_factory=dict)


def _names(rows: list[dict[str, Any]], with_version: bool) -> dict[uuid.UUID, str]:
    if with_version:
        return {r["id"]: f"{r['name']} {r['version']}" for r in rows}
    return {r["id"]: r["name"] for r in rows}


async def runs_page(context: ApiContext, where: RunsQuery) -> RunsPage:
    """One page of runs through the API's list statement, newest first."""
    filters = queries.RunFilter(
        status=where.status, strategy_id=where.strategy, dataset_id=where.dataset,
        label=where.label,
    )  # fmt: skip
    rows = await queries.list_runs(
        context.pool, filters, decode_time_cursor(where.cursor), PAGE_SIZE + 1
    )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    strategies = await queries.list_catalog(context.pool, "strategies", None, CATALOG_SHOWN)
    datasets = await queries.list_catalog(context.pool, "datasets", None, CATALOG_SHOWN)
    return RunsPage(
        where,
        rows,
        where.query_string(cursor) if cursor else None,
        where.query_string(None),
        _names(strategies, with_version=True),
        _names(datasets, with_version=False),
    )


@dataclass(frozen=True)
class RunView:
    run: dict[str, Any]
    strategy: dict[str, Any] | None
    dataset: dict[str, Any] | None
    metrics: list[dict[str, str]]
    artifacts: list[dict[str, Any]]
    events: list[dict[str, Any]]
    next_events: str | None
    paged: bool  # not the first page of events


async def run_view(context: ApiContext, run_id: uuid.UUID, events_cursor: str | None) -> RunView:
    run = await queries.get_run(context.pool, run_id)
    if run is None:
        raise Problem(404, f"no run with id {run_id}", slug="not-found")
    strategy = await queries.get_catalog(context.pool, "strategies", run["strategy_id"])
    dataset = await queries.get_catalog(context.pool, "datasets", run["dataset_id"])
    events = await queries.list_events(
        context.pool, run_id, decode_id_cursor(events_cursor), None, EVENTS_PAGE + 1
    )
    more = len(events) > EVENTS_PAGE
    events = events[:EVENTS_PAGE]
    metrics = metric_rows(run["metrics"]) if run["metrics"] else []
    return RunView(
        run,
        strategy,
        dataset,
        metrics,
        await queries.list_artifacts(context.pool, run_id),
        events,
        encode_cursor(events[-1]["id"]) if more else None,
        events_cursor is not None,
    )
