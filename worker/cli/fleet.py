"""`backtest-worker pause`, `resume`, `retry RUN_ID` and `workers`: operating the fleet
without stopping it."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import typer
from rich.markup import escape

from worker.admin.run_ids import resolve_run_id
from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.cli.db import cli_session
from worker.cli.tables import Col, print_table
from worker.config import Settings
from worker.queue import fleet

T = TypeVar("T")


def operator() -> str:
    """Who paused or resumed, as `queue_state.changed_by` records it."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"[:255]


def with_connection(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        connection = await asyncpg.connect(
            settings.asyncpg_dsn, server_settings={"application_name": "backtest-worker/cli"}
        )
        try:
            return await work(connection)
        finally:
            await connection.close()

    settings.require_database_url()
    try:
        return asyncio.run(main())
    except (OSError, asyncpg.PostgresError) as error:
        raise UserError(
            f"cannot reach the queue at {settings.redacted_database_url}: {error}",
            hint="is DATABASE_URL right, and has `backtest-worker migrate` run?",
        ) from None


@app.command()
def pause(ctx: typer.Context) -> None:
    """Stop every worker from claiming runs (running runs finish; processes keep running)."""
    settings = settings_from(ctx)
    changed = with_connection(settings, lambda db: fleet.set_paused(db, True, operator()))
    err_console.print("queue paused" if changed else "queue was already paused")


@app.command()
def resume(ctx: typer.Context) -> None:
    """Let the workers claim again (they are woken at once)."""
    settings = settings_from(ctx)
    changed = with_connection(settings, lambda db: fleet.set_paused(db, False, operator()))
    err_console.print("queue resumed" if changed else "queue was not paused")


@app.command()
def retry(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="A failed or cancelled run (id or its start)."),
    attempts: int = typer.Option(
        3, "--attempts", min=1, max=100, help="Attempts the retried run may make."
    ),
) -> None:
    """Run a failed or cancelled run again: back to pending with a new attempt budget; its
    events and artifacts stay, its error moves into a `retry_requested` event. A sweep waits
    again: its failed and cancelled children run again, the succeeded ones are kept. The run
    id may be any unique start of it, as the tables print it."""
    settings = settings_from(ctx)

    async def resolve() -> uuid.UUID:
        async with cli_session(settings) as session:
            return await resolve_run_id(session, run_id)

    settings.require_database_url()
    run = asyncio.run(resolve())

    async def work(db: asyncpg.Connection) -> tuple[fleet.Retried | None, str | None]:
        try:
            retried = await fleet.retry_run(db, run, attempts)
        except fleet.NotRetryable as refused:
            raise UserError(refused.message, hint=refused.hint) from None
        status = None
        if retried is None:
            status = await db.fetchval("SELECT status::text FROM runs WHERE id = $1", run)
        return retried, status

    retried, status = with_connection(settings, work)
    if retried is None:
        if status is None:
            raise UserError(f"no run with id {run}")
        raise UserError(
            f"run {run} is {status}: only a failed or cancelled run can be retried",
            hint="cancel it first to stop it" if status in ("pending", "running") else None,
        )
    err_console.print(
        f"run {run} is {retried.status} again (attempts {retried.attempts} of"
        f" {retried.max_attempts})"
        + (": its failed and cancelled children are pending" if retried.status == "waiting" else "")
    )
    typer.echo(str(run))


def worker_json(worker: fleet.RegisteredWorker) -> dict[str, Any]:
    return {
        "worker_id": worker.worker_id,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "version": worker.version,
        "concurrency": worker.concurrency,
        "state": worker.state,
        "alive": worker.alive,
        "running_runs": worker.running_runs,
        "started_at": worker.started_at.isoformat(),
        "last_beat": worker.last_beat.isoformat(),
    }


@app.command()
def workers(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every registered worker, idle ones too: state, last heartbeat, runs held."""
    settings = settings_from(ctx)
    lease = settings.lease_seconds
    registered = with_connection(settings, lambda db: fleet.list_workers(db, lease))
    if as_json:
        typer.echo(json.dumps([worker_json(w) for w in registered], indent=2))
        return
    columns = [
        Col("worker id"),
        Col("state"),
        Col("alive"),
        Col("runs", numeric=True),
        Col("slots", numeric=True, drop=2),
        Col("version", drop=1),
        Col("last beat"),
    ]
    rows = [
        [
            escape(w.worker_id),
            w.state,
            "yes" if w.alive else "no",
            str(w.running_runs),
            str(w.concurrency),
            escape(w.version),
            w.last_beat.strftime("%Y-%m-%d %H:%M:%S"),
        ]
        for w in registered
    ]
    print_table(console, columns, rows, title="Workers")
