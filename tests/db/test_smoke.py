import asyncpg


async def test_fresh_database_has_the_schema(conn: asyncpg.Connection) -> None:
    tables = {
        row["tablename"]
        for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert {"datasets", "strategies", "runs", "artifacts", "events", "alembic_version"} <= tables
