"""The statements of the queue-wide gauges."""

from worker.sqlfiles import sql_loader

load = sql_loader(__package__)
