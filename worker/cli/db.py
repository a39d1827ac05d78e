"""A database session for one CLI command, and the translation of admin errors to UserError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from worker.admin.run_ids import AmbiguousRunId, BadRunId
from worker.admin.runs import NotFound
from worker.cli.app import UserError, describe_validation
from worker.config import Settings
from worker.db.session import create_engine, create_session_factory
from worker.engine.errors import EngineError
from worker.queue.handler import PermanentRunError


@asynccontextmanager
async def cli_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            yield session
    except NotFound as error:
        raise UserError(
            str(error), hint=f"list ids with `backtest-worker {error.listing}`"
        ) from None
    except BadRunId as error:
        raise UserError(str(error), exit_code=2) from None
    except AmbiguousRunId as error:
        raise UserError(str(error), hint="give more of the id", exit_code=2) from None
    except PermanentRunError as error:
        raise UserError(
            f"{error.type}: {error.message}",
            hint="nothing was enqueued; a worker would fail this run at once",
            exit_code=2,
        ) from None
    except EngineError as error:
        raise UserError(error.message) from None
    except ValidationError as error:
        raise UserError(describe_validation(error), exit_code=2) from None
    except IntegrityError as error:
        raise UserError(f"the database refused the row: {error.orig}") from None
    except (OSError, DBAPIError) as error:
        message = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise UserError(
            f"cannot reach PostgreSQL at {settings.redacted_database_url}: {message}",
            hint="check DATABASE_URL and that the server is up; run `backtest-worker migrate`",
        ) from None
    finally:
        await engine.dispose()
