"""AITradePro backtesting worker: a PostgreSQL-backed queue consumer running a polars engine."""

__version__ = "0.1.0"
