"""The Typer application, shared options and the error policy of every command.

A user mistake (bad configuration, unknown id, invalid input) is one clear line on stderr and
exit code 2 (usage) or 1 (failure); a traceback only with `--debug`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer
from pydantic import SecretStr, ValidationError

from worker.cli.tables import cli_console
from worker.config import ConfigError, Settings, load_settings
from worker.redact import redact

app = typer.Typer(
    name="backtest-worker",
    help="AITradePro backtesting worker: a PostgreSQL-backed queue consumer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = cli_console(stderr=True)
console = cli_console()

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake the user can fix; shown as one line with a hint, never a traceback."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code


@dataclass(frozen=True)
class State:
    debug: bool
    embedded: bool = False


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    embedded: bool = typer.Option(
        False,
        "--embedded",
        help="Use the demo's embedded PostgreSQL (EMBEDDED_PGDATA) instead of DATABASE_URL,"
        " started for this command.",
    ),
) -> None:
    ctx.obj = State(debug=debug, embedded=embedded)


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    """Load settings for a command; a bad value becomes a one-line UserError."""
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as error:
        raise UserError(
            str(error), hint="see .env.example for every variable", exit_code=2
        ) from None
    state = ctx.find_object(State)
    return _on_embedded(ctx, settings) if state is not None and state.embedded else settings


def _on_embedded(ctx: typer.Context, settings: Settings) -> Settings:
    """Settings pointing at the embedded PostgreSQL, running until the command ends (so the
    demo's runs can be read after the demo: `backtest-worker --embedded runs list`)."""
    from worker.db.embedded import EmbeddedPostgresUnavailable, start_embedded_postgres

    try:
        server, url = start_embedded_postgres(settings.embedded_pgdata)
    except EmbeddedPostgresUnavailable as error:
        raise UserError(str(error), exit_code=2) from None
    ctx.call_on_close(server.cleanup)
    return settings.model_copy(update={"database_url": SecretStr(url)})


def describe_validation(error: ValidationError) -> str:
    """`field: message; …` from a pydantic error, without echoing the input."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def database_error(settings: Settings, doing: str, error: BaseException, hint: str) -> UserError:
    """One line for a database that cannot be reached or refused us (URL redacted)."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    message = lines[0] if lines else type(cause).__name__
    return UserError(f"{doing} ({settings.redacted_database_url}): {message}", hint=hint)


def fail(error: BaseException, debug: bool) -> None:
    if debug:
        raise error
    if isinstance(error, UserError):
        err_console.print(f"[bold red]error:[/] {redact(str(error))}", highlight=False)
        if error.hint:
            err_console.print(f"  hint: {redact(error.hint)}", highlight=False)
        sys.exit(error.exit_code)
    text = redact(f"{type(error).__name__}: {error}")
    err_console.print(f"[bold red]error:[/] {text}", highlight=False)
    err_console.print("  hint: rerun with --debug for the traceback", highlight=False)
    sys.exit(1)


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        app()
    except (UserError, ConfigError) as error:
        if isinstance(error, ConfigError):
            error = UserError(str(error), hint="see .env.example for every variable", exit_code=2)
        fail(error, debug)
    except KeyboardInterrupt:
        sys.exit(130)
