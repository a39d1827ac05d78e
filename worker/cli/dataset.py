"""`backtest-worker dataset import|list|sample`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.cli.db import cli_session
from worker.cli.tables import Col, print_table

dataset_app = typer.Typer(help="Import and list datasets (OHLCV bars).", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("import")
def import_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV or Parquet file with OHLCV bars."),
    name: str = typer.Option(..., "--name", help="A name people will recognise."),
    timeframe: str | None = typer.Option(
        None, "--timeframe", help="Bar interval (1m, 15m, 1h, 1d, 1w); inferred if omitted."
    ),
    symbol: str | None = typer.Option(
        None, "--symbol", help="Symbol for a file without a symbol column."
    ),
    date_format: str | None = typer.Option(
        None,
        "--date-format",
        help="strftime format of the timestamps, e.g. %d/%m/%Y; needed when dates such as"
        " 02/01/2015 read both day-first and month-first.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Keep a --timeframe that contradicts the bars' spacing (recorded in the"
        " dataset's description).",
    ),
) -> None:
    """Validate a bars file, store it as canonical Parquet under DATA_DIR and register it.

    The dataset id is printed alone on the last line. Importing the same content again
    returns the existing dataset (keeping its name) and points it at the new file, which
    repairs a moved DATA_DIR.
    """
    settings = settings_from(ctx)
    from worker.admin.datasets import import_dataset  # heavy (polars): only when used

    async def main() -> None:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as progress:
            task = progress.add_task(f"importing {path.name}", total=None)

            def step(stage: str) -> None:
                progress.update(task, description=f"{path.name}: {stage}")

            async with cli_session(settings) as session:
                imported = await import_dataset(
                    session,
                    path,
                    name=name,
                    timeframe=timeframe,
                    symbol=symbol,
                    data_dir=settings.data_dir,
                    step=step,
                    force=force,
                    date_format=date_format,
                )
        where = f"(hash {imported.hash[:12]}…) → {imported.storage_uri}"
        bars = f"{imported.rows:,} bars of {', '.join(imported.symbols)}"
        if imported.created:
            err_console.print(f"imported {bars} {where}", markup=False)
        else:
            err_console.print(
                f"this content already exists as dataset {imported.id} ({imported.name!r});"
                f" kept that dataset and its name, its file is now {imported.storage_uri}"
                f" ({bars})",
                markup=False,
            )
        if imported.description:
            err_console.print(f"note: {imported.description}", markup=False)
        print(imported.id)

    asyncio.run(main())


@dataset_app.command("sample")
def sample_command(
    path: Path = typer.Argument(..., help="CSV file to write (overwritten)."),
    symbols: str = typer.Option("AAA,BBB", "--symbols", help="Comma-separated symbols."),
    bars: int = typer.Option(2520, "--bars", min=1, max=10_000_000, help="Bars per symbol."),
    timeframe: str = typer.Option("1d", "--timeframe", help="Bar interval (1m … 1w)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same bars."),
) -> None:
    """Write synthetic OHLCV bars (a random walk per symbol) to try the worker without data."""
    from worker.engine.synthetic import generate_bars

    names = [s.strip() for s in symbols.split(",") if s.strip()]
    if not names:
        raise UserError("--symbols names no symbol", exit_code=2)
    try:
        frame = generate_bars(symbols=names, n_bars=bars, timeframe=timeframe, seed=seed)
    except ValueError as error:
        raise UserError(str(error), exit_code=2) from None
    frame.write_csv(path)
    err_console.print(f"wrote {frame.height:,} {timeframe} bars of {', '.join(names)} to {path}")


@dataset_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List the registered datasets."""
    settings = settings_from(ctx)
    from worker.admin.datasets import list_datasets

    async def main() -> None:
        async with cli_session(settings) as session:
            datasets = await list_datasets(session)
        columns = [
            Col("id"),  # whole: ids are for copying into --dataset
            Col("name", wrap=True),
            Col("timeframe", drop=3),
            Col("symbols", wrap=True, drop=4),
            Col("from", drop=2),
            Col("to", drop=2),
            Col("rows", numeric=True, drop=1),
            Col("hash", drop=5),
        ]
        rows = [
            [
                str(d.id),
                escape(d.name),
                d.timeframe,
                ", ".join(d.symbols[:8]) + (" …" if len(d.symbols) > 8 else ""),
                d.start_date.date().isoformat(),
                d.end_date.date().isoformat(),
                f"{d.row_count:,}",
                d.hash[:12],
            ]
            for d in datasets
        ]
        print_table(console, columns, rows)

    asyncio.run(main())
