"""`backtest-worker enqueue`, `runs list|show|compare`, `cancel` and `prune`.

Every command that takes a run id takes the whole id or any unique start of it, such as the
short ids the tables print (`worker.admin.run_ids`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import typer

from worker.admin.run_filter import RunFilter
from worker.admin.run_ids import resolve_run_id, short_ids
from worker.admin.run_summary import summarize
from worker.admin.runs import cancel_run, enqueue_run, get_run, list_runs, prune_runs
from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.cli.db import cli_session
from worker.cli.run_views import compare_table, list_table, show_lines, styled_status
from worker.cli.tables import Col, print_table
from worker.db import RunStatus
from worker.results.metric_labels import metric_rows
from worker.schemas import RunCreate
from worker.storage import FileStore

runs_app = typer.Typer(help="Inspect and compare runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

#: `cancel` of a run that had already succeeded or failed: nothing was cancelled.
EXIT_ALREADY_FINISHED = 3


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UserError(f"{what} {value!r} is not a UUID", exit_code=2) from None


def _when(value: str | None, option: str, *, end: bool = False) -> datetime | None:
    """A date or an ISO time in UTC (unless it names its zone); a date alone as `--until`
    means the end of that day."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} {value!r} is not a date (2026-12-01) or a time (2026-12-01T09:30)",
            exit_code=2,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def enqueue(
    ctx: typer.Context,
    dataset_id: str = typer.Option(..., "--dataset"),
    strategy_id: str = typer.Option(..., "--strategy"),
    capital: float = typer.Option(10_000.0, "--capital", help="Initial capital."),
    config: str = typer.Option("{}", "--config", help="Run config as JSON."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
) -> None:
    """Enqueue a backtest run; prints the run id on the last line.

    The config and the strategy's parameters are checked as a worker checks them: a run a
    worker would fail at once is refused (exit 2), naming the field and the rule.
    """
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
    strategy: str | None = typer.Option(None, "--strategy", help="Strategy id or name part."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset id or name part."),
    label: str | None = typer.Option(None, "--label", help="Part of the run's config.label."),
    since: str | None = typer.Option(None, "--since", help="Created on or after (date/time)."),
    until: str | None = typer.Option(None, "--until", help="Created up to (a date: that day)."),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The newest runs: what each used (params, label), status or error type, headline
    metrics. Ids are shown as their shortest unique start, which every command accepts."""
    settings = settings_from(ctx)
    where = RunFilter(
        status=status,
        strategy=strategy,
        dataset=dataset,
        label=label,
        since=_when(since, "--since"),
        until=_when(until, "--until", end=True),
    )

    async def main() -> None:
        async with cli_session(settings) as session:
            runs = await list_runs(session, where, limit)
            short = await short_ids(session, [run.id for run in runs])
        summaries = [summarize(run) for run in runs]
        if as_json:
            print(
                json.dumps([{**s.as_json(), "short_id": short[s.id]} for s in summaries], indent=2)
            )
            return
        if not summaries:
            err_console.print("no runs match")
            return
        columns, rows = list_table(summaries, short)
        print_table(console, columns, rows)

    asyncio.run(main())


@runs_app.command("show")
def show_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="A run id or its unique start."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One run: what it used (effective params, overrides, grid, config, label), status,
    metrics, error and artifacts."""
    settings = settings_from(ctx)

    async def main() -> None:
        async with cli_session(settings) as session:
            run = await get_run(session, await resolve_run_id(session, run_id))
            short = (await short_ids(session, [run.id]))[run.id]
        summary = summarize(run)
        if as_json:
            from worker.schemas import ArtifactRead, RunRead

            payload = RunRead.model_validate(run).model_dump(mode="json")
            payload["summary"] = {**summary.as_json(), "short_id": short}
            payload["artifacts"] = [
                ArtifactRead.model_validate(a).model_dump(mode="json") for a in run.artifacts
            ]
            print(json.dumps(payload, indent=2))
            return
        console.print(
            f"run [bold]{run.id}[/] ({short}) {styled_status(run.status.value)}"
            f"  attempts {run.attempts}/{run.max_attempts}"
        )
        for line in show_lines(summary, run.strategy.params):
            console.print(line, highlight=False)
        if run.error:
            console.print(f"[red]error[/]    {run.error.get('type')}: {run.error.get('message')}")
        if run.metrics:
            rows = [[r["label"], r["value"], r["note"]] for r in metric_rows(run.metrics)]
            columns = [Col("metric"), Col("value", numeric=True), Col("note", wrap=True, drop=1)]
            print_table(console, columns, rows)
        for artifact in run.artifacts:
            console.print(f"  {artifact.kind.value:7} {artifact.storage_path}", highlight=False)

    asyncio.run(main())


@runs_app.command("compare")
def compare_command(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids (or unique starts)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Runs side by side: status, parameters, key config and metrics; `*` marks the rows
    that differ."""
    settings = settings_from(ctx)
    if len(run_ids) < 2:
        raise UserError("runs compare needs at least two run ids", exit_code=2)

    async def main() -> None:
        async with cli_session(settings) as session:
            keys = [await resolve_run_id(session, text) for text in run_ids]
            runs = [await get_run(session, key) for key in keys]
            short = await short_ids(session, keys)
        summaries = [summarize(run) for run in runs]
        if as_json:
            print(
                json.dumps([{**s.as_json(), "short_id": short[s.id]} for s in summaries], indent=2)
            )
            return
        columns, rows = compare_table(summaries, short)
        print_table(console, columns, rows)

    asyncio.run(main())


@app.command()
def cancel(
    ctx: typer.Context, run_id: str = typer.Argument(..., help="A run id or its unique start.")
) -> None:
    """Cancel a run: pending runs at once, running ones within seconds.

    Prints the run's status. Exit code 3 when the run had already succeeded or failed
    (nothing was cancelled); 0 when it is cancelled, or will be within seconds.
    """
    settings = settings_from(ctx)

    async def main() -> tuple[uuid.UUID, RunStatus]:
        async with cli_session(settings) as session:
            key = await resolve_run_id(session, run_id)
            return key, await cancel_run(session, key)

    key, status = asyncio.run(main())
    if status is RunStatus.RUNNING:
        err_console.print("cancellation requested: its worker stops it within seconds")
    console.print(status.value)
    if status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        err_console.print(f"run {key} had already finished ({status.value}): nothing to cancel")
        raise typer.Exit(EXIT_ALREADY_FINISHED)


@app.command()
def prune(
    ctx: typer.Context,
    before: datetime | None = typer.Option(
        None, "--before", help="Delete finished runs created before this date."
    ),
    older_than: str | None = typer.Option(
        None, "--older-than", help="Delete finished runs older than this: 30d, 12h, 2w, 90m."
    ),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Delete finished runs older than a date or a duration, with their events and artifact
    files; then empty artifact folders (untouched for an hour)."""
    from worker.durations import parse_duration
    from worker.queue.retention import EMPTY_FOLDER_AGE_SECONDS

    if (before is None) == (older_than is None):
        raise UserError("give one of --before DATE or --older-than DURATION", exit_code=2)
    if older_than is not None:
        try:
            cutoff = datetime.now(UTC) - parse_duration(older_than)
        except ValueError as error:
            raise UserError(f"--older-than: {error}", exit_code=2) from None
    else:
        assert before is not None
        cutoff = before if before.tzinfo else before.replace(tzinfo=UTC)
    settings = settings_from(ctx)
    store = FileStore(settings.artifact_dir)

    async def main() -> None:
        async with cli_session(settings) as session:
            result = await prune_runs(session, cutoff, store, dry_run)
        verb = "would delete" if dry_run else "deleted"
        folders = 0 if dry_run else store.remove_empty_dirs(EMPTY_FOLDER_AGE_SECONDS)
        console.print(
            f"{verb} {result.runs} runs and {result.files} artifact files"
            + (f" ({folders} empty folders removed)" if folders else "")
        )

    asyncio.run(main())
