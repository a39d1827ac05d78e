"""What an operator sees of a running fleet: Prometheus metrics, liveness and readiness.

Each worker process counts its own work (`worker_metrics`) and serves it with its probes on
METRICS_PORT (`probe_server`); the queue as a whole is measured once, by the API process
(`queue_gauges`), so N workers do not run N copies of the same queries.
"""
