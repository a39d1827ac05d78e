"""Settings: libpq URLs in, driver URLs out, clear errors, and never a password in them."""

from __future__ import annotations

import pytest

from worker.config import ConfigError, Environment, load_settings

SECRET = "s3cr3t-pw"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "DATABASE_URL",
        "DATABASE_LISTEN_URL",
        "DATABASE_STATEMENT_CACHE",
        "ENV",
        "WORKER_CONCURRENCY",
        "LOG_LEVEL",
        "DB_POOL_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKER_ENV_FILE", "/nonexistent/.env")


def test_node_style_url_gives_asyncpg_and_sqlalchemy_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://app:{SECRET}@db.internal:6432/trading?sslmode=require"
    )
    settings = load_settings()
    assert (
        settings.asyncpg_dsn
        == f"postgresql://app:{SECRET}@db.internal:6432/trading?sslmode=require"
    )
    url = settings.sqlalchemy_url
    assert url.drivername == "postgresql+asyncpg"
    assert url.query == {"ssl": "require"}
    assert url.port == 6432 and url.database == "trading"
    assert SECRET not in settings.redacted_database_url
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_postgres_scheme_and_socket_host_accepted() -> None:
    settings = load_settings(database_url="postgres://postgres:@/postgres?host=/tmp/pg")
    assert settings.sqlalchemy_url.query == {"host": "/tmp/pg"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", f"mysql://u:{SECRET}@h/db", "DATABASE_URL: must start with postgresql://"),
        ("DATABASE_URL", f"postgresql://u:{SECRET}@h", "DATABASE_URL: names no database"),
        ("WORKER_CONCURRENCY", "zero", "WORKER_CONCURRENCY: Input should be a valid integer"),
        ("WORKER_CONCURRENCY", "0", "WORKER_CONCURRENCY: Input should be greater than 0"),
        ("ENV", "prod", "ENV: Input should be 'development', 'staging' or 'production'"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: Input should be"),
        ("DATABASE_LISTEN_URL", f"http://u:{SECRET}@h/db", "DATABASE_LISTEN_URL: must start"),
        ("DATABASE_STATEMENT_CACHE", "-1", "DATABASE_STATEMENT_CACHE: Input should be greater"),
    ],
)
def test_bad_values_name_the_variable_and_hide_secrets(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert SECRET not in str(caught.value)


def test_missing_database_url_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        _ = load_settings().sqlalchemy_url


def test_pool_defaults_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().effective_pool_size is None
    monkeypatch.setenv("ENV", "production")
    production = load_settings()
    assert production.env is Environment.PRODUCTION
    assert (production.effective_pool_size, production.db_max_overflow) == (20, 10)
    assert production.json_logs
    monkeypatch.setenv("DB_POOL_SIZE", "5")
    assert load_settings().effective_pool_size == 5


def test_heartbeat_must_beat_faster_than_the_lease() -> None:
    with pytest.raises(ConfigError, match="HEARTBEAT_SECONDS must be shorter than LEASE_SECONDS"):
        load_settings(lease_seconds=10, heartbeat_seconds=10)
    assert load_settings(lease_seconds=30).effective_heartbeat_seconds == 10


def test_env_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    env_file = Path(str(tmp_path)) / ".env"
    env_file.write_text("WORKER_CONCURRENCY=7\nLOG_LEVEL=debug\n")
    monkeypatch.setenv("WORKER_ENV_FILE", str(env_file))
    settings = load_settings()
    assert settings.worker_concurrency == 7 and settings.log_level == "DEBUG"


def test_env_example_lists_every_setting() -> None:
    from pathlib import Path

    from worker.config import Settings

    example = Path(__file__).resolve().parents[2] / ".env.example"
    listed = {
        line.split("=", 1)[0].strip().lower()
        for line in example.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert set(Settings.model_fields) <= listed, set(Settings.model_fields) - listed


def test_listen_connection_defaults_to_database_url_and_the_cache_is_on() -> None:
    settings = load_settings(database_url="postgresql://app@db:5432/trading")
    assert settings.listen_dsn == settings.asyncpg_dsn
    assert settings.asyncpg_options == {"statement_cache_size": 100}
    assert not settings.transaction_pooled


def test_behind_a_transaction_pooler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{SECRET}@pgbouncer:6432/trading")
    monkeypatch.setenv("DATABASE_LISTEN_URL", f"postgresql://app:{SECRET}@db:5432/trading")
    monkeypatch.setenv("DATABASE_STATEMENT_CACHE", "0")
    settings = load_settings()
    assert settings.listen_dsn == f"postgresql://app:{SECRET}@db:5432/trading"
    assert settings.asyncpg_dsn == f"postgresql://app:{SECRET}@pgbouncer:6432/trading"
    assert settings.asyncpg_options == {"statement_cache_size": 0}
    assert settings.transaction_pooled
    assert SECRET not in repr(settings)
