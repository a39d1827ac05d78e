"""Administrative operations on the shared tables (datasets, strategies, runs), used by the CLI
and the demo. They go through the SQLAlchemy models; the queue's hot path does not."""
