"""The run queue: claim, lease and heartbeat, reaper, LISTEN/NOTIFY, retries.

Plain SQL over asyncpg (see `sql/`); `worker.Worker` is the orchestrator that ties the
loops together, `handler` the interface a run handler implements.
"""
