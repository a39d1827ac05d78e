"""Server CPU per run of the queue's own statements, and what each part of the schema costs.

    .venv/bin/python -m bench.queue_cost [--database-url URL] [--runs 20000] [--batch 100]
                                         [--repeat 2] [--only VARIANT]

One claim connection and one completion connection drain `--runs` pending runs, `--batch` at
a time: `claim.sql`, then `complete_batch.sql` on what it claimed, as a worker's claimer and
completer do, without the worker's Python in between. Prints the CPU of each of the two
PostgreSQL backends per run (from /proc: the server must run on this machine), first on the
schema as migrated, then with one part of it removed (an index, a trigger, the events'
foreign key); the variants are alternated `--repeat` times, so the difference to `as
migrated` is what that part costs per run. Each variant gets a fresh database, copied from
one migrated template, dropped afterwards. The GIN indexes' pending lists are merged at the end of
the drain, on the completion's backend (their deferred cost counts). Not a test.

Beside the CPU: the WAL written per run (a figure the machine's load does not move: a new
index entry or a non-HOT version shows in it) and how many of the updates of `runs` were HOT
(since migration 0015 the claim's can be, when its page has room: the fillfactor variants).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from bench.cpu import cpu_seconds
from bench.queue_db import bench_database
from bench.queue_throughput import DEFAULT_SERVER, admin, with_database
from worker.bounds import MAX_TRANSPORT_BYTES
from worker.queue.sql import load

WORKER = "bench-host:1:cost"
LEASE_SECONDS = 60.0


# A GIN index with fastupdate (the default) defers its entries to a pending list, merged once
# it passes gin_pending_list_limit (4 MB) or by a vacuum: the drain merges its own at the end,
# on the completion's backend, so that the deferred cost counts.
FLUSH_GIN_PENDING = (
    "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index AS i"
    " JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_am AS am ON am.oid = c.relam"
    " WHERE am.amname = 'gin' AND i.indrelid IN ('runs'::regclass, 'events'::regclass)"
)


@dataclass(frozen=True)
class Variant:
    setup: str = ""  # run before the runs are inserted
    claim: str = load("claim")
    complete: str = load("complete_batch")


def _without_event(sql: str) -> str:
    """The statement without its `logged` CTE (the event row it writes)."""
    start = sql.index("logged AS (")
    end = sql.index("\n)", start) + 2
    if sql[end] == ",":  # not the last CTE
        return sql[:start] + sql[end + 2 :]
    return sql[: start - 2] + sql[end:]  # drop the comma before it


VARIANTS: dict[str, Variant] = {
    "as migrated": Variant(),
    "without the run_completed trigger": Variant(
        "ALTER TABLE runs DISABLE TRIGGER runs_notify_completed"
    ),
    "without every trigger of runs but the enqueue": Variant(
        "ALTER TABLE runs DISABLE TRIGGER USER;"
        " ALTER TABLE runs ENABLE TRIGGER runs_enqueue_inserted"
    ),
    "without the events' run check": Variant(
        "DROP TRIGGER events_require_run_inserted ON events;"
        " DROP TRIGGER events_require_run_updated ON events"
    ),
    "events' row-level foreign key (before 0017)": Variant(
        "DROP TRIGGER events_require_run_inserted ON events;"
        " DROP TRIGGER events_require_run_updated ON events;"
        " ALTER TABLE events ADD CONSTRAINT fk_events_run_id_runs FOREIGN KEY (run_id)"
        " REFERENCES runs (id) ON DELETE CASCADE"
    ),
    "without ix_events_payload (GIN)": Variant("DROP INDEX ix_events_payload"),
    "without the 7 secondary indexes of runs": Variant(
        "DROP INDEX ix_runs_created_at_id, ix_runs_dataset_id, ix_runs_mode_date,"
        " ix_runs_strategy_id, ix_runs_metadata, ix_runs_finished_at;"
        " ALTER TABLE runs DROP CONSTRAINT uq_runs_idempotency_key"
    ),
    "without ix_runs_metadata (GIN)": Variant("DROP INDEX ix_runs_metadata"),
    "without ix_runs_finished_at": Variant("DROP INDEX ix_runs_finished_at"),
    "without ix_runs_metadata and _finished_at": Variant(
        "DROP INDEX ix_runs_metadata, ix_runs_finished_at"
    ),
    "without ix_events_run_timestamp": Variant("DROP INDEX ix_events_run_timestamp"),
    "ix_runs_metadata jsonb_ops (before 0016)": Variant(
        "DROP INDEX ix_runs_metadata; CREATE INDEX ix_runs_metadata ON runs USING gin (metadata)"
    ),
    "lifecycle events in ix_events_payload (<0016)": Variant(
        "DROP INDEX ix_events_payload;"
        " CREATE INDEX ix_events_payload ON events USING gin (payload)"
        " WHERE event_type NOT IN ('trade_entry', 'trade_exit')"
    ),
    "GIN fastupdate off": Variant(
        "ALTER INDEX ix_runs_metadata SET (fastupdate = off);"
        " ALTER INDEX ix_events_payload SET (fastupdate = off)"
    ),
    "without the claimed and completed event rows": Variant(
        claim=_without_event(load("claim")), complete=_without_event(load("complete_batch"))
    ),
    "without all of the above (events, NOTIFY, HOT)": Variant(
        "DROP INDEX ix_runs_metadata, ix_runs_finished_at;"
        " ALTER TABLE runs DISABLE TRIGGER runs_notify_completed",
        claim=_without_event(load("claim")),
        complete=_without_event(load("complete_batch")),
    ),
    "fillfactor 90 (before 0015)": Variant("ALTER TABLE runs SET (fillfactor = 90)"),
    "fillfactor 30": Variant("ALTER TABLE runs SET (fillfactor = 30)"),
}


async def seed(connection: asyncpg.Connection, runs: int) -> None:
    dataset = await connection.fetchval(
        "INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,"
        " storage_uri, hash) VALUES ('bench', ARRAY['X'], '1d', '2020-01-01', '2020-12-31', 1,"
        " 'file:///dev/null', md5('a') || md5('b')) RETURNING id"
    )
    strategy = await connection.fetchval(
        "INSERT INTO strategies (name) VALUES ('bench') RETURNING id"
    )
    await connection.execute(
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital)"
        " SELECT $1, $2, 10000 FROM generate_series(1, $3)",
        dataset,
        strategy,
        runs,
    )


def completion_args(rows: list[asyncpg.Record]) -> list[object]:
    """complete_batch.sql's arrays for no-op successes (what bench.queue_throughput's
    handler returns)."""
    n = len(rows)
    return [
        [row["id"] for row in rows],
        [row["attempts"] for row in rows],
        ["10000.0"] * n,
        ["0.0"] * n,
        [None] * n,
        ["0.0"] * n,
        [None] * n,
        [0] * n,
        [0] * n,
        [0] * n,
        ['{"final_value": 10000.0, "total_return": 0.0}'] * n,
        ['{"timings": {"total_ms": 0.1}}'] * n,
    ]


@dataclass(frozen=True)
class Drained:
    claim_us: float  # CPU of the claiming backend per run
    complete_us: float
    rate: float  # runs/s
    wal_bytes: float  # per run


async def drain(url: str, runs: int, batch: int, variant: Variant) -> Drained:
    claimer = await asyncpg.connect(url, server_settings={"enable_bitmapscan": "off"})
    completer = await asyncpg.connect(url)
    claim, complete = variant.claim, variant.complete
    try:
        pids = [claimer.get_server_pid(), completer.get_server_pid()]
        wal_start = await claimer.fetchval("SELECT pg_current_wal_insert_lsn()")
        before = [cpu_seconds([pid]) for pid in pids]
        started = time.perf_counter()
        written = 0
        while rows := await claimer.fetch(claim, WORKER, batch, LEASE_SECONDS, MAX_TRANSPORT_BYTES):
            written += len(await completer.fetch(complete, WORKER, *completion_args(rows)))
        await completer.execute(FLUSH_GIN_PENDING)
        elapsed = time.perf_counter() - started
        after = [cpu_seconds([pid]) for pid in pids]
        wal = await claimer.fetchval(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)", wal_start
        )
    finally:
        await claimer.close()
        await completer.close()
    assert written == runs, (written, runs)
    claim_us, complete_us = (1e6 * (a - b) / runs for a, b in zip(after, before, strict=True))
    return Drained(claim_us, complete_us, runs / elapsed, float(wal) / runs)


async def measure(server: str, template: str, variant: str, runs: int, batch: int) -> None:
    name = f"bench_cost_{uuid.uuid4().hex[:8]}"
    await admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = with_database(server, name)
    try:
        chosen = VARIANTS[variant]
        connection = await asyncpg.connect(url)
        try:
            if chosen.setup:
                await connection.execute(chosen.setup)
            await seed(connection, runs)
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()
        d = await drain(url, runs, batch, chosen)
        connection = await asyncpg.connect(url)
        try:
            hot = await connection.fetchval(
                "SELECT n_tup_hot_upd::float8 / nullif(n_tup_upd, 0) FROM pg_stat_user_tables"
                " WHERE relname = 'runs'"
            )
        finally:
            await connection.close()
        print(
            f"{variant:<46} claim {d.claim_us:5.1f}  completion {d.complete_us:5.1f}  "
            f"total {d.claim_us + d.complete_us:5.1f} us/run  ({d.rate:,.0f} runs/s)  "
            f"WAL {d.wal_bytes:,.0f} B/run  HOT {100 * (hot or 0):.0f} % of updates",
            flush=True,
        )
    finally:
        await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def bench(server: str, runs: int, batch: int, repeat: int, only: str) -> None:
    async with bench_database(server, "bench_cost_template") as url:
        template = make_url(url).database
        assert template is not None
        variants = [v for v in VARIANTS if not only or only in v or v == "as migrated"]
        print(f"{runs:,} runs, batches of {batch}: CPU of the two PostgreSQL backends per run")
        for _ in range(repeat):
            for variant in variants:
                await measure(server, template, variant, runs, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", default="", help="only variants whose name contains this")
    args = parser.parse_args()
    asyncio.run(bench(args.database_url, args.runs, args.batch, args.repeat, args.only))


if __name__ == "__main__":
    main()
