"""`backtest-worker demo`: the whole product on one machine, in well under two minutes."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.cli.tables import Col, print_table
from worker.config import Settings


def _embedded(settings: Settings, workdir: Path) -> tuple[Settings, Any]:
    from worker.db.embedded import EmbeddedPostgresUnavailable, start_embedded_postgres

    pgdata = settings.embedded_pgdata
    console.print(f"starting the embedded PostgreSQL in [bold]{pgdata}[/] (kept between demos)")
    try:
        server, url = start_embedded_postgres(pgdata)
    except EmbeddedPostgresUnavailable as error:
        raise UserError(str(error), exit_code=2) from None
    updated = settings.model_copy(
        update={
            "database_url": SecretStr(url),
            "data_dir": str(workdir / "data"),
            "artifact_dir": str(workdir / "artifacts"),
        }
    )
    return updated, server


def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{100 * float(value):.2f} %"


RESULT_COLUMNS = (
    Col("strategy", wrap=True),
    Col("status"),
    Col("return", numeric=True),
    Col("Sharpe", numeric=True, drop=1),
    Col("max DD", numeric=True, drop=2),
    Col("trades", numeric=True, drop=3),
    Col("note", wrap=True),
)


def _result_rows(views: list[Any]) -> list[list[str]]:
    rows = []
    for view in views:
        row = view.row
        status = row.get("status", view.status)
        style = {"succeeded": "green", "failed": "red"}.get(status, "yellow")
        note = ""
        if row.get("error"):
            error = json.loads(row["error"]) if isinstance(row["error"], str) else row["error"]
            note = f"{error['type']}: {error['message']}"
        elif row.get("best_params") not in (None, "null"):
            best = json.loads(row["best_params"])
            note = "best " + ", ".join(f"{key}={value}" for key, value in best.items())
        sharpe = row.get("sharpe_ratio")
        rows.append(
            [
                view.label,
                f"[{style}]{status}[/]",
                _pct(row.get("total_return")),
                "" if sharpe is None else f"{float(sharpe):.2f}",
                _pct(row.get("max_drawdown")),
                "" if row.get("total_trades") is None else str(row["total_trades"]),
                escape(note),
            ]
        )
    return rows


def _afterwards(settings: Settings, embedded: bool, workdir: Path) -> None:
    """Where the demo left its logs and how to look at its database once it has ended."""
    console.print(f"\nworker logs (JSON lines): {workdir / 'logs'}/worker-*.log", highlight=False)
    if embedded:
        pgdata = settings.embedded_pgdata
        prefix = "" if pgdata == Path(".demo/pgdata") else f"EMBEDDED_PGDATA={pgdata} "
        console.print(
            f"the embedded PostgreSQL is stopped; its data is kept in {pgdata}. To look at"
            f" the runs again (it starts for the command):\n"
            f"  {prefix}backtest-worker --embedded runs list\n"
            f"  {prefix}backtest-worker --embedded runs show RUN_ID",
            highlight=False,
        )
    else:
        url = settings.redacted_database_url
        assert settings.database_url is not None
        masked = url != settings.database_url.get_secret_value()
        console.print(
            f"to look at the runs again{' (with your password in the URL)' if masked else ''}:\n"
            f"  DATABASE_URL='{url}' backtest-worker runs list\n"
            f"  DATABASE_URL='{url}' backtest-worker runs show RUN_ID",
            highlight=False,
        )


@app.command()
def demo(
    ctx: typer.Context,
    workers: int = typer.Option(2, "--workers", min=1, help="Worker processes to start."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="Runs per worker."),
    workdir: Path = typer.Option(Path(".demo"), "--workdir", help="Data, artifacts, logs."),
) -> None:
    """Run the product end to end: migrate, import a generated dataset, register strategies,
    enqueue a batch (with a grid and one bad run), start workers and show live progress.

    Without DATABASE_URL it starts an embedded PostgreSQL in EMBEDDED_PGDATA (.demo/pgdata).
    """
    from worker import demo as plan_module
    from worker.db.migrate import upgrade

    started = time.monotonic()
    workdir = workdir.resolve()
    settings = settings_from(ctx)
    server = None
    if settings.database_url is None:
        settings, server = _embedded(settings, workdir)
    console.print(f"database: {settings.redacted_database_url}")
    try:
        upgrade(settings.asyncpg_dsn)
    except Exception as error:
        raise UserError(
            f"cannot migrate {settings.redacted_database_url}: {error}",
            hint="check DATABASE_URL, or unset it to use the embedded PostgreSQL",
        ) from None

    async def main() -> list[Any]:
        with console.status("preparing") as status:
            plan = await plan_module.prepare(settings, workdir, lambda stage: status.update(stage))
            # Once here, so the workers load the kernels instead of each compiling them.
            status.update("loading the engine's kernels (compiled once per machine: ~15 s)")
            await asyncio.to_thread(importlib.import_module, "worker.pipeline.runner")
        console.print(
            f"enqueued {len(plan.runs)} runs on dataset {plan.dataset_id};"
            f" starting {workers} worker process(es), {concurrency} run(s) each"
        )
        processes = plan_module.start_workers(settings, workers, concurrency, workdir / "logs")
        try:
            with Progress(
                TextColumn("{task.description:<34}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TextColumn("{task.fields[stage]}"),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                tasks: dict[Any, TaskID] = {
                    view.id: progress.add_task(view.label, total=100, stage="queued")
                    for view in plan.runs
                }

                def refresh() -> None:
                    for view in plan.runs:
                        progress.update(tasks[view.id], completed=view.pct, stage=view.stage)

                await plan_module.follow(settings, plan, refresh, processes)
        finally:
            for process in processes:
                await asyncio.to_thread(process.wait, 60)
        return plan.runs

    try:
        views = asyncio.run(main())
    finally:
        if server is not None:
            server.cleanup()
    print_table(console, RESULT_COLUMNS, _result_rows(views))
    reports = [(view.label, view.row["report"]) for view in views if view.row.get("report")]
    console.print("\nHTML reports (open in a browser):")
    width = max((len(label) for label, _ in reports), default=0)
    for label, path in reports:
        console.print(f"  {label:<{width}}  {path}", highlight=False)
    _afterwards(settings, server is not None, workdir)
    err_console.print(f"\ndemo finished in {time.monotonic() - started:.1f} s")
