"""Every SQL statement of the HTTP API, one `.sql` file each, read once per process."""

from worker.sqlfiles import sql_loader

load = sql_loader(__package__)
