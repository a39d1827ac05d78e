"""The HTTP face of the shared tables (FastAPI, `/api/v1`). It enqueues with the SQL
contract's INSERT and reads the same tables; it never executes a backtest."""

from worker.api.app import create_app

__all__ = ["create_app"]
