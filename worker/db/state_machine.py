"""The lifecycle rules of the shared tables as one SQL file: `docs/state_machine.sql`.

The migrations are the source of the schema, but they are a history: a trigger written in
0001 and rewritten in 0003 and 0008 is read in three files. This prints what a database at
the newest revision holds — the status enums, the check constraints of `runs`, and every
function and trigger — from PostgreSQL's own catalog (`pg_get_functiondef`,
`pg_get_triggerdef`), so Node and Python developers read the rules every client obeys in one
place. A test keeps the file equal to a freshly migrated database.

    python -m worker.db.state_machine [DATABASE_URL] > docs/state_machine.sql
"""

from __future__ import annotations

import asyncio
import re
import sys

import asyncpg

HEADER = """\
-- The state machine of the shared tables, as a database at the newest migration holds it:
-- enums, the check constraints of `runs`, every function and trigger. Generated from the
-- catalog by `python -m worker.db.state_machine DATABASE_URL > docs/state_machine.sql`;
-- do not edit (the migrations in migrations/versions are the source).
-- Deparsed by PostgreSQL {major}.
"""

ENUMS = """
SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
FROM pg_type AS t
JOIN pg_enum AS e ON e.enumtypid = t.oid
WHERE t.typnamespace = current_schema()::text::regnamespace
GROUP BY t.typname
ORDER BY t.typname
"""

CHECKS = """
SELECT conname AS name, pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE conrelid = 'runs'::regclass AND contype = 'c'
ORDER BY conname
"""

FUNCTIONS = """
SELECT pg_get_functiondef(p.oid) AS definition
FROM pg_proc AS p
WHERE p.pronamespace = current_schema()::text::regnamespace AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                  WHERE d.objid = p.oid AND d.deptype = 'e')
ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)
"""

TRIGGERS = """
SELECT pg_get_triggerdef(t.oid, true) AS definition
FROM pg_trigger AS t
JOIN pg_class AS c ON c.oid = t.tgrelid
WHERE c.relnamespace = current_schema()::text::regnamespace AND NOT t.tgisinternal
ORDER BY c.relname, t.tgname
"""


async def state_machine_sql(connection: asyncpg.Connection) -> str:
    major = int(await connection.fetchval("SHOW server_version_num")) // 10_000
    parts = [HEADER.format(major=major), "\n-- Enums\n"]
    for row in await connection.fetch(ENUMS):
        labels = ", ".join(f"'{label}'" for label in row["labels"])
        parts.append(f"CREATE TYPE {row['name']} AS ENUM ({labels});\n")
    parts.append("\n-- Check constraints of runs\n")
    for row in await connection.fetch(CHECKS):
        parts.append(f"ALTER TABLE runs ADD CONSTRAINT {row['name']} {row['definition']};\n")
    parts.append("\n-- Functions\n")
    for row in await connection.fetch(FUNCTIONS):
        parts.append(f"\n{row['definition'].strip()};\n")
    parts.append("\n-- Triggers\n")
    for row in await connection.fetch(TRIGGERS):
        parts.append(f"\n{row['definition']};\n")
    return "".join(parts)


def object_names(sql: str) -> list[str]:
    """The types, constraints, functions and triggers a state-machine file creates, by name:
    what two servers of different major versions agree on (their deparsed text may not)."""
    return re.findall(
        r"^(?:CREATE TYPE|ALTER TABLE runs ADD CONSTRAINT|CREATE OR REPLACE FUNCTION"
        r"|CREATE TRIGGER) ([\w.]+)",
        sql,
        flags=re.MULTILINE,
    )


def deparsed_by(sql: str) -> int:
    """The PostgreSQL major version that wrote a state-machine file."""
    match = re.search(r"^-- Deparsed by PostgreSQL (\d+)\.$", sql, flags=re.MULTILINE)
    return int(match.group(1)) if match else 0


async def _print(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        sys.stdout.write(await state_machine_sql(connection))
    finally:
        await connection.close()


def main() -> None:
    if len(sys.argv) > 1:
        url = sys.argv[1]
    else:
        from worker.config import load_settings

        url = load_settings().asyncpg_dsn
    asyncio.run(_print(url))


if __name__ == "__main__":
    main()
