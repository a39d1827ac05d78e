"""`backtest-worker strategy create|list`."""

from __future__ import annotations

import asyncio
import json

import typer
from pydantic import ValidationError
from rich.markup import escape

from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.cli.db import cli_session
from worker.cli.tables import Col, print_table

strategy_app = typer.Typer(help="Register and list strategies.", no_args_is_help=True)
app.add_typer(strategy_app, name="strategy")


@strategy_app.command("create")
def create_command(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name"),
    params: str = typer.Option(
        ..., "--params", help='JSON, e.g. \'{"kind": "sma_crossover", "fast_period": 10}\''
    ),
    version: str = typer.Option("1.0.0", "--version", help="Semantic version."),
    description: str | None = typer.Option(None, "--description"),
) -> None:
    """Validate the parameters and register a strategy; prints its id on the last line."""
    settings = settings_from(ctx)
    from worker.admin.strategies import create_strategy  # heavy (the engine): only when used

    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as error:
        raise UserError(f"--params is not valid JSON: {error}", exit_code=2) from None
    if not isinstance(parsed, dict):
        example = '{"kind": "buy_and_hold"}'
        raise UserError(f"--params must be a JSON object such as {example}", exit_code=2)

    async def main() -> None:
        async with cli_session(settings) as session:
            try:
                strategy, created = await create_strategy(
                    session, name, parsed, version, description
                )
            except ValidationError:
                raise
            except ValueError as error:
                raise UserError(str(error), exit_code=2) from None
        err_console.print(
            f"{'created' if created else 'exists:'} {strategy.name} v{strategy.version}"
        )
        print(strategy.id)

    asyncio.run(main())


@strategy_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List the registered strategies."""
    settings = settings_from(ctx)
    from worker.admin.strategies import list_strategies

    async def main() -> None:
        async with cli_session(settings) as session:
            strategies = await list_strategies(session)
        columns = [
            Col("id"),  # whole: ids are for copying into --strategy
            Col("name", wrap=True),
            Col("version", drop=1),
            Col("params", wrap=True),
        ]
        rows = [
            [str(s.id), escape(s.name), s.version, escape(json.dumps(s.params))] for s in strategies
        ]
        print_table(console, columns, rows)

    asyncio.run(main())
