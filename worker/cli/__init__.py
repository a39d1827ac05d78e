"""`backtest-worker`: the command line. Each command group lives in its own module."""

from worker.cli import apikey as _apikey  # noqa: F401  (registers commands)
from worker.cli import dataset as _dataset  # noqa: F401
from worker.cli import demo as _demo  # noqa: F401
from worker.cli import fleet as _fleet  # noqa: F401
from worker.cli import migrate as _migrate  # noqa: F401
from worker.cli import run as _run  # noqa: F401
from worker.cli import runs as _runs  # noqa: F401
from worker.cli import serve as _serve  # noqa: F401
from worker.cli import status as _status  # noqa: F401
from worker.cli import strategy as _strategy  # noqa: F401
from worker.cli.app import app, main

__all__ = ["app", "main"]
