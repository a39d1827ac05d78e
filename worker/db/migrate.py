"""Run Alembic migrations from code (the CLI's `migrate`, the demo and the tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    """Alembic config for `database_url` (libpq form), independent of the working directory."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision`. Blocking: call it outside a running event loop."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def known_revisions() -> tuple[str, list[str]]:
    """The newest revision of this code's migrations, and every revision it knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/db"))
    head = script.get_current_head()
    assert head is not None, "the migrations have no head"
    return head, [revision.revision for revision in script.walk_revisions()]


def schema_problem(revision: str | None) -> str | None:
    """Why a worker of this code cannot run on a database at `revision` (None: it can). A
    revision this code does not know is a newer schema, which older workers keep serving
    during a rolling deploy."""
    head, known = known_revisions()
    if revision is None:
        return "the database has no schema (it was never migrated)"
    if revision != head and revision in known:
        return f"the schema is at revision {revision}, behind this worker's {head}"
    return None
