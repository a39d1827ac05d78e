"""The dashboard's own statements (everything else it reads through the API's)."""

from worker.sqlfiles import sql_loader

load = sql_loader(__package__)
