"""`backtest-worker`: the command line. Each command group lives in its own module."""

from worker.cli import migrate as _migrate  # noqa: F401  (registers commands)
from worker.cli.app import app, main

__all__ = ["app", "main"]
