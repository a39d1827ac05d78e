"""SQL statements of the run pipeline (a run's inputs, its progress events), one file each."""

from worker.sqlfiles import sql_loader

load = sql_loader(__package__)
