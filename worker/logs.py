"""structlog for the worker: JSON lines in production, readable lines in development.

`configure_logging(settings)` is called once at the edge (the CLI). Lines about a run carry
`run_id`, `attempt` and `worker_id` (the queue binds them).

Whatever a line says, it is scrubbed on the way out: every string value is clipped to
`bounds.MAX_LOG_STRING`, and the rendered line (tracebacks included) has every password of a
URL or DSN masked (`redact`); so are the standard library's lines. asyncpg's "Failed to
restore the pool connection floor" becomes one line per minute without its traceback.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from worker import jsonsafe
from worker.bounds import MAX_LOG_STRING, clip
from worker.config import Settings
from worker.redact import redact


def _json_serializer(value: Any, **_: Any) -> str:
    return jsonsafe.dumps(value)


def _clip_values(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and len(value) > MAX_LOG_STRING:
            event[key] = clip(value, MAX_LOG_STRING)
    return event


def _redacting(renderer: Any) -> Any:
    def render(logger: Any, name: str, event: dict[str, Any]) -> Any:
        line = renderer(logger, name, event)
        return redact(line) if isinstance(line, str) else line

    return render


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(clip(super().format(record), 4 * MAX_LOG_STRING))


class PoolFloorFilter(logging.Filter):
    """asyncpg retries the pool's minimum connections with a warning and a traceback each
    time (dozens per PostgreSQL restart): one line, without traceback, per `every` seconds."""

    MESSAGE = "Failed to restore the pool connection floor"

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self._every = every
        self._last = -math.inf
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.MESSAGE):
            return True
        now = time.monotonic()
        if now - self._last < self._every:
            self._suppressed += 1
            return False
        error = record.exc_info[1] if record.exc_info else None
        why = f" ({type(error).__name__}: {error})" if error is not None else ""
        more = f"; {self._suppressed} more since the last line" if self._suppressed else ""
        record.msg = f"{self.MESSAGE}; retrying{why}{more}"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        self._last, self._suppressed = now, 0
        return True


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
        processors=[*shared, _clip_values, _redacting(renderer)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=max(level, logging.WARNING), handlers=[handler], force=True)
    pool_logger = logging.getLogger("asyncpg.pool")
    for old in [f for f in pool_logger.filters if isinstance(f, PoolFloorFilter)]:
        pool_logger.removeFilter(old)
    pool_logger.addFilter(PoolFloorFilter())
