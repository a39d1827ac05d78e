"""structlog for the worker: JSON lines in production, readable lines in development.

`configure_logging(settings)` is called once at the edge (the CLI). Lines about a run carry
`run_id`, `attempt` and `worker_id` (the queue binds them). The database URL is only ever
logged as `settings.redacted_database_url`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from worker import jsonsafe
from worker.config import Settings


def _json_serializer(value: Any, **_: Any) -> str:
    return jsonsafe.dumps(value)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Route structlog (and the standard library's warnings) to `stream` (stderr)."""
    out = stream or sys.stderr
    level = logging.getLevelNamesMapping()[settings.log_level]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if settings.json_logs:
        renderer = structlog.processors.JSONRenderer(serializer=_json_serializer)
        # Tracebacks as data, without local variables (they may hold secrets).
        shared += [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        ]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        stream=out,
        level=max(level, logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
