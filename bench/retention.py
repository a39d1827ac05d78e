"""Retention of old events: today's batched DELETE against dropping time partitions.

    .venv/bin/python -m bench.retention [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                        [--runs 20000] [--events-per-run 50] [--days 30] [--prune-days 10]

Builds two databases on the server with the same rows: `runs` spread over `--days` days,
each with `--events-per-run` events stamped within its day (lifecycle events and trade
events, as a real run writes them). The first has the schema of the migrations (`events` one
table); in the second, `events` is partitioned by `created_at`, one partition a day. Then the
runs of the oldest `--prune-days` days are pruned:

* plain: the worker's own retention statement (`worker/queue/sql/prune_batch.sql`, batches
  of 500 runs) until nothing is left, the events going with their runs by `ON DELETE
  CASCADE`; then the `VACUUM` that makes the space reusable;
* partitioned: `DROP TABLE` of each partition wholly older than the cutoff, then the same
  retention statement (which now finds no events of those runs).

Prints, for each: wall time, WAL written, the size of `events` before and after, and the
median time to read one run's events (what partitioning costs: one index probe per
partition). Not a test; each run drops its databases afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from worker.db.migrate import upgrade
from worker.queue.retention import BATCH
from worker.queue.sql import load

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

PARTITIONED_EVENTS = """
ALTER TABLE events RENAME TO events_plain;
CREATE TABLE events (
    id bigint NOT NULL DEFAULT nextval('bench_event_ids'),
    run_id uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    event_type varchar(64) NOT NULL,
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(payload) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX ON events (run_id, "timestamp");
CREATE INDEX ON events USING gin (payload)
    WHERE event_type NOT IN ('trade_entry', 'trade_exit');
DROP TABLE events_plain;
"""

FILL_RUNS = """
INSERT INTO runs (dataset_id, strategy_id, initial_capital, status, created_at, started_at,
                  finished_at, final_value, total_return, max_drawdown, total_trades,
                  winning_trades, losing_trades, metrics)
SELECT $1, $2, 10000, 'succeeded', t, t, t + interval '1 second', 10000, 0, 0, 0, 0, 0, '{}'
FROM (SELECT now() - make_interval(days => $4) + (i * make_interval(days => $4) / $3) AS t
      FROM generate_series(1, $3) AS i) AS s
"""

FILL_EVENTS = """
INSERT INTO events (run_id, event_type, "timestamp", payload, created_at)
SELECT r.id,
       CASE WHEN k <= 4 THEN 'claimed' WHEN k % 2 = 0 THEN 'trade_entry' ELSE 'trade_exit' END,
       r.created_at,
       jsonb_build_object('attempt', 1, 'trade', k, 'price', 100.0 + k),
       r.created_at + k * interval '1 millisecond'
FROM runs AS r CROSS JOIN generate_series(1, $1) AS k
"""


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def wal_lsn(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


async def events_bytes(connection: asyncpg.Connection) -> int:
    """Heap, indexes and TOAST of `events` and of every partition of it."""
    return int(
        await connection.fetchval(
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
            " FROM pg_partition_tree('events')), pg_total_relation_size('events'))"
        )
    )


async def build(server: str, name: str, partitioned: bool, args: argparse.Namespace) -> str:
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(server, name)
    await asyncio.to_thread(upgrade, url)
    connection = await asyncpg.connect(url)
    try:
        dataset = await connection.fetchval(
            "INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,"
            " storage_uri, hash) VALUES ('bench', ARRAY['X'], '1d', '2020-01-01', '2020-12-31',"
            " 1, 'file:///dev/null', md5('a') || md5('b')) RETURNING id"
        )
        strategy = await connection.fetchval(
            "INSERT INTO strategies (name) VALUES ('bench') RETURNING id"
        )
        if partitioned:
            await connection.execute("CREATE SEQUENCE bench_event_ids")
            await connection.execute(PARTITIONED_EVENTS)
            for day in range(args.days + 1):
                await connection.execute(
                    f"CREATE TABLE events_day_{day} PARTITION OF events FOR VALUES FROM"
                    f" (date_trunc('day', now()) - interval '{args.days - day} days') TO"
                    f" (date_trunc('day', now()) - interval '{args.days - day - 1} days')"
                )
            await connection.execute(
                "CREATE TABLE events_older PARTITION OF events FOR VALUES FROM (MINVALUE) TO"
                f" (date_trunc('day', now()) - interval '{args.days} days')"
            )
        await connection.execute(FILL_RUNS, dataset, strategy, args.runs, args.days)
        await connection.execute(FILL_EVENTS, args.events_per_run)
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return url


async def prune_runs(connection: asyncpg.Connection, seconds: float) -> int:
    """The worker's retention statement, batch after batch, until a batch is short."""
    runs = 0
    while True:
        deleted = len(await connection.fetch(load("prune_batch"), seconds, BATCH))
        runs += deleted
        if deleted < BATCH:
            return runs


async def prune_plain(connection: asyncpg.Connection, seconds: float) -> dict[str, float]:
    started = time.perf_counter()
    runs = await prune_runs(connection, seconds)
    pruned = time.perf_counter()
    await connection.execute("VACUUM events")
    return {
        "runs": runs,
        "prune_s": pruned - started,
        "vacuum_s": time.perf_counter() - pruned,
    }


async def prune_partitioned(
    connection: asyncpg.Connection, seconds: float, days: int
) -> dict[str, float]:
    """Drop the day partitions that end before the cutoff, then prune the runs as usual."""
    started = time.perf_counter()
    doomed = await connection.fetch(
        """
        SELECT day FROM generate_series(0, $1) AS day
        WHERE date_trunc('day', now()) - make_interval(days => $1 - day - 1)
              <= now() - make_interval(secs => $2)
        """,
        days,
        seconds,
    )
    for row in doomed:
        await connection.execute(f"DROP TABLE events_day_{int(row['day'])}")
    runs = await prune_runs(connection, seconds)
    return {
        "runs": runs,
        "partitions_dropped": len(doomed),
        "prune_s": time.perf_counter() - started,
        "vacuum_s": 0.0,
    }


async def read_latency(connection: asyncpg.Connection, samples: int = 300) -> float:
    """Median ms to read one run's events in time order (the API's and Node's read)."""
    ids = [
        r["id"]
        for r in await connection.fetch("SELECT id FROM runs ORDER BY random() LIMIT $1", samples)
    ]
    statement = await connection.prepare(
        'SELECT * FROM events WHERE run_id = $1 ORDER BY "timestamp", id'
    )
    times = []
    for run_id in ids:
        started = time.perf_counter()
        await statement.fetch(run_id)
        times.append(time.perf_counter() - started)
    times.sort()
    return 1000 * times[len(times) // 2]


async def measure(url: str, partitioned: bool, seconds: float, days: int) -> dict[str, Any]:
    connection = await asyncpg.connect(url)
    try:
        events_before = int(await connection.fetchval("SELECT count(*) FROM events"))
        read_ms = await read_latency(connection)
        size_before = await events_bytes(connection)
        lsn = await wal_lsn(connection)
        if partitioned:
            figures: dict[str, Any] = dict(await prune_partitioned(connection, seconds, days))
        else:
            figures = dict(await prune_plain(connection, seconds))
        figures["wal_mb"] = (await wal_lsn(connection) - lsn) / 1e6
        figures["events_before"] = events_before
        figures["read_ms"] = read_ms
        figures["events_after"] = int(await connection.fetchval("SELECT count(*) FROM events"))
        figures["size_before_mb"] = size_before / 1e6
        figures["size_after_mb"] = await events_bytes(connection) / 1e6
        return figures
    finally:
        await connection.close()


async def main(args: argparse.Namespace) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {False: f"bench_retention_plain_{suffix}", True: f"bench_retention_part_{suffix}"}
    keep_seconds = (args.days - args.prune_days) * 86_400
    print(
        f"{args.runs:,} runs over {args.days} days, {args.events_per_run} events each"
        f" ({args.runs * args.events_per_run:,} events); pruning the oldest {args.prune_days} days"
    )
    try:
        for partitioned, name in names.items():
            url = await build(args.database_url, name, partitioned, args)
            figures = await measure(url, partitioned, keep_seconds, args.days)
            label = "partitioned (DROP)" if partitioned else "plain (DELETE)"
            print(
                f"{label:<20} runs pruned {figures['runs']:,}; events {figures['events_before']:,}"
                f" -> {figures['events_after']:,}; prune {figures['prune_s']:.2f} s"
                f" + vacuum {figures['vacuum_s']:.2f} s; WAL {figures['wal_mb']:.1f} MB;"
                f" events on disk {figures['size_before_mb']:.0f} -> {figures['size_after_mb']:.0f} MB;"
                f" one run's events read in {figures['read_ms']:.2f} ms (median)"
                + (f"; partitions dropped {figures['partitions_dropped']}" if partitioned else "")
            )
    finally:
        admin = await asyncpg.connect(args.database_url)
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--events-per-run", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--prune-days", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
