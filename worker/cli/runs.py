"""`backtest-worker enqueue`, `runs list|show`, `cancel` and `prune`."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import typer
from rich.table import Table

from worker.admin.runs import cancel_run, enqueue_run, get_run, list_runs, prune_runs
from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.cli.db import cli_session
from worker.db import Run, RunStatus
from worker.results.metric_labels import format_metric, metric_rows
from worker.schemas import RunCreate
from worker.storage import FileStore

runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

STATUS_STYLE = {
    "pending": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UserError(f"{what} {value!r} is not a UUID", exit_code=2) from None


def _status(run: Run) -> str:
    return f"[{STATUS_STYLE[run.status.value]}]{run.status.value}[/]"


@app.command()
def enqueue(
    ctx: typer.Context,
    dataset_id: str = typer.Option(..., "--dataset"),
    strategy_id: str = typer.Option(..., "--strategy"),
    capital: float = typer.Option(10_000.0, "--capital", help="Initial capital."),
    config: str = typer.Option("{}", "--config", help="Run config as JSON."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
) -> None:
    """Enqueue a backtest run; prints the run id on the last line."""
    settings = settings_from(ctx)
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as error:
        raise UserError(f"--config is not valid JSON: {error}", exit_code=2) from None
    spec = RunCreate(
        dataset_id=_uuid(dataset_id, "--dataset"),
        strategy_id=_uuid(strategy_id, "--strategy"),
        initial_capital=capital,
        config=parsed,
        priority=priority,
    )

    async def main() -> None:
        async with cli_session(settings) as session:
            print(await enqueue_run(session, spec))

    asyncio.run(main())


@runs_app.command("list")
def list_command(
    ctx: typer.Context,
    status: RunStatus | None = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit", min=1),
) -> None:
    """The newest runs with their status and headline metrics."""
    settings = settings_from(ctx)

    async def main() -> None:
        async with cli_session(settings) as session:
            runs = await list_runs(session, status, limit)
        table = Table("id", "strategy", "status", "return", "sharpe", "max dd", "trades", "created")
        table.columns[0].no_wrap = True  # ids are for copying: never cut them
        table.columns[0].min_width = 36
        for run in runs:
            done = run.status is RunStatus.SUCCEEDED
            table.add_row(
                str(run.id),
                f"{run.strategy.name} v{run.strategy.version}",
                _status(run),
                format_metric("total_return", run.total_return) if done else "",
                format_metric("sharpe_ratio", run.sharpe_ratio) if done else "",
                format_metric("max_drawdown", run.max_drawdown) if done else "",
                "" if run.total_trades is None else str(run.total_trades),
                run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
        console.print(table)

    asyncio.run(main())


@runs_app.command("show")
def show_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One run: status, metrics, error and artifacts."""
    settings = settings_from(ctx)
    key = _uuid(run_id, "run id")

    async def main() -> None:
        async with cli_session(settings) as session:
            run = await get_run(session, key)
        if as_json:
            from worker.schemas import ArtifactRead, RunRead

            payload = RunRead.model_validate(run).model_dump(mode="json")
            payload["artifacts"] = [
                ArtifactRead.model_validate(a).model_dump(mode="json") for a in run.artifacts
            ]
            print(json.dumps(payload, indent=2))
            return
        console.print(
            f"run [bold]{run.id}[/] {_status(run)}  attempts {run.attempts}/{run.max_attempts}"
        )
        console.print(
            f"strategy {run.strategy.name} v{run.strategy.version}: {run.strategy.params}"
        )
        console.print(f"dataset  {run.dataset.name} ({run.dataset.timeframe}) {run.dataset.hash}")
        if run.error:
            console.print(f"[red]error[/] {run.error.get('type')}: {run.error.get('message')}")
        if run.metrics:
            table = Table("metric", "value", "note")
            for row in metric_rows(run.metrics):
                table.add_row(row["label"], row["value"], row["note"])
            console.print(table)
        for artifact in run.artifacts:
            console.print(f"  {artifact.kind.value:7} {artifact.storage_path}")

    asyncio.run(main())


@app.command()
def cancel(ctx: typer.Context, run_id: str = typer.Argument(...)) -> None:
    """Cancel a run: pending runs at once, running ones within seconds."""
    settings = settings_from(ctx)
    key = _uuid(run_id, "run id")

    async def main() -> None:
        async with cli_session(settings) as session:
            status = await cancel_run(session, key)
        if status is RunStatus.RUNNING:
            err_console.print("cancellation requested: its worker stops it within seconds")
        console.print(status.value)

    asyncio.run(main())


@app.command()
def prune(
    ctx: typer.Context,
    before: datetime = typer.Option(..., "--before", help="Delete finished runs created before."),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Delete finished runs older than a date, with their events and artifact files."""
    settings = settings_from(ctx)
    cutoff = before if before.tzinfo else before.replace(tzinfo=UTC)

    async def main() -> None:
        async with cli_session(settings) as session:
            result = await prune_runs(session, cutoff, FileStore(settings.artifact_dir), dry_run)
        verb = "would delete" if dry_run else "deleted"
        console.print(f"{verb} {result.runs} runs and {result.files} artifact files")

    asyncio.run(main())
