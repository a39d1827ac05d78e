"""SQL statements of the results side (inputs of a run, artifact rows, events), one file each."""

from worker.sqlfiles import sql_loader

load = sql_loader(__package__)
