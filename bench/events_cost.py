"""Server CPU per trade event of the final transaction's COPY, and what each part costs.

    .venv/bin/python -m bench.events_cost [--database-url URL] [--trades 2872] [--copies 20]
                                          [--repeat 2]

A 1M-bar run's trade events (2,872 trades: 5,744 rows, the worker's own CSV) are COPYed
`--copies` times, each in its own transaction, into `events` as migrated and with one part
removed or changed at a time (the run check, or the row-level foreign key it replaced in
0017, an index, the payload's or the timestamp's type, the identity, the WAL); the variants are alternated `--repeat` times. Prints the CPU
of the copying backend per row (from /proc: the server must run on this machine) and the
WAL per row. Each variant gets a fresh database, copied from one migrated template. Not a
test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from bench.cpu import cpu_seconds
from bench.events import synthetic_trades
from bench.queue_cost import seed
from bench.queue_db import bench_database
from bench.queue_throughput import DEFAULT_SERVER, admin, with_database
from worker.queue.queries import copy_events_csv
from worker.results.events import trade_events_csv

WITHOUT_RUN_CHECK = (
    "DROP TRIGGER events_require_run_inserted ON events;"
    " DROP TRIGGER events_require_run_updated ON events"
)
ROW_LEVEL_FOREIGN_KEY = (
    WITHOUT_RUN_CHECK + ";"
    " ALTER TABLE events ADD CONSTRAINT fk_events_run_id_runs FOREIGN KEY (run_id)"
    " REFERENCES runs (id) ON DELETE CASCADE"
)

VARIANTS: dict[str, str] = {
    "as migrated": "",
    "row-level foreign key (before 0017)": ROW_LEVEL_FOREIGN_KEY,
    "without the run check": WITHOUT_RUN_CHECK,
    "without ix_events_run_timestamp": "DROP INDEX ix_events_run_timestamp",
    "without ix_events_payload (predicate)": "DROP INDEX ix_events_payload",
    "without the payload's check (jsonb_typeof)": (
        "ALTER TABLE events DROP CONSTRAINT ck_events_payload_object"
    ),
    "without the primary key": "ALTER TABLE events DROP CONSTRAINT pk_events",
    "payload as text (no jsonb parse)": (
        "DROP INDEX ix_events_payload;"
        " ALTER TABLE events DROP CONSTRAINT ck_events_payload_object,"
        " ALTER COLUMN payload DROP DEFAULT, ALTER COLUMN payload TYPE text"
    ),
    "timestamp as text (no timestamptz parse)": (
        "ALTER TABLE events ALTER COLUMN timestamp DROP DEFAULT, ALTER COLUMN timestamp TYPE text"
    ),
    "unlogged events (no WAL)": "ALTER TABLE events SET UNLOGGED",
    "without run check, both indexes, primary key": (
        WITHOUT_RUN_CHECK + ";"
        " DROP INDEX ix_events_run_timestamp, ix_events_payload;"
        " ALTER TABLE events DROP CONSTRAINT pk_events"
    ),
}


async def measure(server: str, template: str, variant: str, trades: int, copies: int) -> None:
    name = f"bench_evcost_{uuid.uuid4().hex[:8]}"
    await admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = with_database(server, name)
    try:
        connection = await asyncpg.connect(url)
        try:
            if VARIANTS[variant]:
                await connection.execute(VARIANTS[variant])
            await seed(connection, copies)
            run_ids = [row["id"] for row in await connection.fetch("SELECT id FROM runs")]
            frame = synthetic_trades(trades)
            data = [trade_events_csv(run_id, frame) for run_id in run_ids]
            await connection.execute("VACUUM ANALYZE")
            pid = connection.get_server_pid()
            wal_start = await connection.fetchval("SELECT pg_current_wal_insert_lsn()")
            before = cpu_seconds([pid])
            started = time.perf_counter()
            for rows in data:
                async with connection.transaction():
                    await copy_events_csv(connection, rows)
            elapsed = time.perf_counter() - started
            after = cpu_seconds([pid])
            wal = await connection.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)", wal_start
            )
        finally:
            await connection.close()
        rows = 2 * trades * copies
        print(
            f"{variant:<42} {1e6 * (after - before) / rows:5.2f} us/row CPU  "
            f"{1e3 * elapsed / copies:6.1f} ms per run's COPY  WAL {float(wal) / rows:5.0f} B/row",
            flush=True,
        )
    finally:
        await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def bench(server: str, trades: int, copies: int, repeat: int) -> None:
    async with bench_database(server, "bench_evcost_template") as url:
        template = make_url(url).database
        assert template is not None
        print(f"{trades:,} trades ({2 * trades:,} rows) COPYed {copies} times per variant")
        for _ in range(repeat):
            for variant in VARIANTS:
                await measure(server, template, variant, trades, copies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--trades", type=int, default=2_872)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(bench(args.database_url, args.trades, args.copies, args.repeat))


if __name__ == "__main__":
    main()
