"""`backtest-worker apikey create|list|revoke`: the HTTP API's keys."""

from __future__ import annotations

import asyncio

import typer
from rich.markup import escape

from worker.admin.apikeys import Scope, create_api_key, list_api_keys, revoke_api_key
from worker.cli.app import UserError, app, console, err_console, settings_from
from worker.cli.db import cli_session
from worker.cli.tables import Col, print_table

apikey_app = typer.Typer(help="Create, list and revoke HTTP API keys.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
WHEN = "%Y-%m-%d %H:%M"


@apikey_app.command("create")
def create_command(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Who or what uses the key."),
    scope: Scope = typer.Option(Scope.READ, "--scope", help="read, or write (read and write)."),
) -> None:
    """Create a key. It is printed once, alone on the last line; only its hash is stored."""
    settings = settings_from(ctx)

    async def main() -> None:
        async with cli_session(settings) as session:
            try:
                row, secret = await create_api_key(session, name, scope)
            except ValueError as error:
                raise UserError(str(error), exit_code=2) from None
        err_console.print(
            f"created {row.scope} key {row.name!r} ({row.id}); store it now, it is not shown again"
        )
        print(secret)

    asyncio.run(main())


@apikey_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List keys (never their secrets). `revoke` takes the id, the prefix or the name; at
    80 columns the id is left out (the prefix names the key)."""
    settings = settings_from(ctx)

    async def main() -> None:
        async with cli_session(settings) as session:
            keys = await list_api_keys(session)
        columns = [
            Col("id", drop=1),
            Col("name", wrap=True),
            Col("scope"),
            Col("prefix"),
            Col("created"),
            Col("revoked"),
        ]
        rows = [
            [
                str(key.id),
                escape(key.name),
                key.scope,
                key.prefix + "…",
                key.created_at.strftime(WHEN),
                key.revoked_at.strftime(WHEN) if key.revoked_at else "",
            ]
            for key in keys
        ]
        print_table(console, columns, rows)

    asyncio.run(main())


@apikey_app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    which: str = typer.Argument(..., help="The key's id, prefix (as listed) or name."),
) -> None:
    """Revoke a key: API processes refuse it from the next request on."""
    settings = settings_from(ctx)

    async def main() -> None:
        async with cli_session(settings) as session:
            revoked = await revoke_api_key(session, which.removesuffix("…"))
        if not revoked:
            raise UserError(
                f"no active key matches {which!r}", hint="see `backtest-worker apikey list`"
            )
        for key in revoked:
            console.print(f"revoked {key.name!r} ({key.id})")

    asyncio.run(main())
