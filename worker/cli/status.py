"""`backtest-worker status`: the queue at a glance (runs by status, workers holding leases)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import typer
from rich.markup import escape

from worker.cli.app import UserError, app, console, settings_from
from worker.cli.fleet import worker_json
from worker.cli.tables import Col, print_table
from worker.config import Settings
from worker.queue import fleet, queries


@dataclass(frozen=True)
class QueueStatus:
    counts: list[queries.StatusCount]
    workers: list[queries.LeaseHolder]
    pause: fleet.PauseState
    registered: list[fleet.RegisteredWorker]

    def as_json(self) -> dict[str, Any]:
        pending = next((c for c in self.counts if c.status == "pending"), None)
        age = pending.oldest_pending_age if pending else None
        return {
            "runs": {c.status: c.runs for c in self.counts},
            "runnable": pending.runnable if pending else 0,
            "oldest_pending_age_seconds": None if age is None else age.total_seconds(),
            "workers": [
                {
                    "worker_id": w.worker_id,
                    "runs": w.runs,
                    "oldest_started_at": _iso(w.oldest_started_at),
                    "lease_expires_at": _iso(w.lease_expires_at),
                    "lease_expired": w.has_expired_lease,
                }
                for w in self.workers
            ],
            "paused": self.pause.paused,
            "paused_since": _iso(self.pause.changed_at) if self.pause.paused else None,
            "paused_by": self.pause.changed_by if self.pause.paused else None,
            "registered_workers": [worker_json(w) for w in self.registered],
        }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _age(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


async def fetch_status(settings: Settings) -> QueueStatus:
    connection = await asyncpg.connect(
        settings.asyncpg_dsn,
        server_settings={"application_name": "backtest-worker/status"},
        **settings.asyncpg_options,
    )
    try:
        return QueueStatus(
            counts=await queries.status_counts(connection),
            workers=await queries.lease_holders(connection),
            pause=await fleet.queue_state(connection),
            registered=await fleet.list_workers(connection, settings.lease_seconds),
        )
    finally:
        await connection.close()


@app.command()
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Runs by status, the oldest pending run's age, and the workers holding leases."""
    settings = settings_from(ctx)
    settings.require_database_url()
    try:
        result = asyncio.run(fetch_status(settings))
    except (OSError, asyncpg.PostgresError) as error:
        raise UserError(
            f"cannot read the queue at {settings.redacted_database_url}: {error}",
            hint="is DATABASE_URL right, and has `backtest-worker migrate` run?",
        ) from None
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
        return
    runs = [
        [
            count.status,
            str(count.runs),
            str(count.runnable) if count.status == "pending" else "",
            _age(count.oldest_pending_age) if count.status == "pending" else "",
        ]
        for count in result.counts
    ]
    runs_columns = [
        Col("status"),
        Col("runs", numeric=True),
        Col("runnable now", numeric=True),
        Col("oldest", numeric=True),
    ]
    print_table(console, runs_columns, runs, title="Runs")
    holders = []
    for worker in result.workers:
        running = worker.db_now - worker.oldest_started_at if worker.oldest_started_at else None
        left = worker.lease_expires_at - worker.db_now if worker.lease_expires_at else None
        lease = "expired" if worker.has_expired_lease else f"{_age(left)} left"
        holders.append([escape(worker.worker_id), str(worker.runs), _age(running), lease])
    holder_columns = [
        Col("worker id"),
        Col("runs", numeric=True),
        Col("running for", numeric=True, drop=1),
        Col("lease", numeric=True),
    ]
    print_table(
        console, holder_columns, holders or [["(none)", "", "", ""]], "Workers holding leases"
    )
    alive = [w for w in result.registered if w.alive]
    idle = sum(1 for w in alive if not w.running_runs)
    console.print(f"{len(alive)} workers alive ({idle} idle); `backtest-worker workers` lists them")
    if result.pause.paused:
        since = _iso(result.pause.changed_at)
        console.print(
            f"[bold yellow]claiming is PAUSED[/] since {since} by {result.pause.changed_by}"
        )
