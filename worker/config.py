"""Every knob of the worker, read once from the environment and `.env`.

Settings are immutable: build them with :func:`load_settings` at the edge (CLI, tests)
and pass them down. Nothing here is global or mutable.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from worker.redact import redact


class ConfigError(Exception):
    """A setting is missing or invalid. The message names the variable, never a password."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


def parse_database_url(raw: str) -> URL:
    """Parse a libpq/Node-style URL (`postgresql://user:pw@host:5432/db?sslmode=require`)."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError("is not a URL like postgresql://user:password@host:5432/dbname") from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(f"must start with postgresql:// (got scheme {url.drivername!r})")
    if not url.database:
        raise ValueError("names no database (postgresql://user:password@host:5432/dbname)")
    return url.set(drivername="postgresql")


class Settings(BaseSettings):
    """The worker's configuration. Each field is read from the upper-cased variable of its name."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        case_sensitive=False,
    )

    database_url: SecretStr | None = None
    database_listen_url: SecretStr | None = None
    database_statement_cache: Annotated[int, Field(ge=0)] = 100
    env: Environment = Environment.DEVELOPMENT
    debug: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    database_echo: bool = False
    db_pool_size: PositiveInt | None = None
    db_max_overflow: Annotated[int, Field(ge=0)] = 10
    db_pool_timeout: PositiveFloat = 30.0

    worker_concurrency: PositiveInt = 2
    engine_threads: PositiveInt | None = None
    worker_tune_allocator: bool = True
    lease_seconds: PositiveFloat = 30.0
    heartbeat_seconds: PositiveFloat | None = None
    poll_interval_seconds: PositiveFloat = 5.0
    run_timeout: PositiveFloat = 3600.0
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 30.0
    retry_base_seconds: PositiveFloat = 2.0
    retry_max_seconds: PositiveFloat = 300.0
    metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    metrics_host: str = "0.0.0.0"
    retention_days: PositiveFloat | None = None
    retention_interval_seconds: PositiveFloat = 3600.0

    data_dir: str = "data"
    dataset_roots: str = ""
    artifact_dir: str = "artifacts"
    dataset_cache_dir: str = ".cache/datasets"
    embedded_pgdata: Path = Path(".demo/pgdata")

    api_host: str = "0.0.0.0"
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8000
    api_workers: PositiveInt = 1
    api_rate_limit: str = "600/minute"
    api_rate_limit_storage: str = "memory://"
    api_cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    api_max_body_bytes: PositiveInt = 1_048_576
    api_max_upload_bytes: PositiveInt = 104_857_600
    api_db_pool_size: PositiveInt = 10

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit such as 600/minute or 10/second;100/minute"
            ) from None
        return value

    @field_validator("api_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("api_cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
        return tuple(origin.rstrip("/") for origin in value)

    @field_validator("database_url", "database_listen_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_database_url(value.get_secret_value().strip())
        return SecretStr(value.get_secret_value().strip())

    @model_validator(mode="after")
    def _check_lease(self) -> Settings:
        if self.effective_heartbeat_seconds >= self.lease_seconds:
            raise ValueError("HEARTBEAT_SECONDS must be shorter than LEASE_SECONDS")
        return self

    @property
    def effective_heartbeat_seconds(self) -> float:
        return self.heartbeat_seconds or self.lease_seconds / 3

    @property
    def effective_pool_size(self) -> int | None:
        """Pooled connections; None means NullPool (development's default)."""
        if self.db_pool_size is not None:
            return self.db_pool_size
        return None if self.env is Environment.DEVELOPMENT else 20

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.env is not Environment.DEVELOPMENT
        return self.log_format == "json"

    @property
    def dataset_read_roots(self) -> tuple[str, ...]:
        """Where datasets may be read: DATA_DIR, then the comma-separated DATASET_ROOTS."""
        extra = [root.strip() for root in self.dataset_roots.split(",") if root.strip()]
        return (self.data_dir, *extra)

    def require_database_url(self) -> URL:
        if self.database_url is None:
            raise ConfigError(
                "DATABASE_URL is not set: export DATABASE_URL=postgresql://user:password@host:5432/db"
            )
        return parse_database_url(self.database_url.get_secret_value())

    @property
    def asyncpg_dsn(self) -> str:
        """The DSN for asyncpg.connect: libpq syntax, `sslmode` understood as is."""
        return self.require_database_url().render_as_string(hide_password=False)

    @property
    def listen_dsn(self) -> str:
        """Where the one LISTEN connection of a process goes: DATABASE_LISTEN_URL (a direct,
        session-mode address when DATABASE_URL is a transaction-mode pooler), else DATABASE_URL."""
        if self.database_listen_url is None:
            return self.asyncpg_dsn
        url = parse_database_url(self.database_listen_url.get_secret_value())
        return url.render_as_string(hide_password=False)

    @property
    def transaction_pooled(self) -> bool:
        """DATABASE_STATEMENT_CACHE=0: DATABASE_URL is a transaction-mode pooler (PgBouncer), so
        no statement may outlive its transaction and no session setting can be relied on."""
        return self.database_statement_cache == 0

    @property
    def asyncpg_options(self) -> dict[str, Any]:
        """Options of every asyncpg connection or pool on DATABASE_URL (not the LISTEN one)."""
        return {"statement_cache_size": self.database_statement_cache}

    @property
    def sqlalchemy_url(self) -> URL:
        """The SQLAlchemy URL (asyncpg driver). `sslmode` becomes asyncpg's `ssl` argument."""
        url = self.require_database_url().set(drivername="postgresql+asyncpg")
        query = dict(url.query)
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        return url.set(query=query)

    @property
    def redacted_database_url(self) -> str:
        """DATABASE_URL with its password masked, wherever the URL carries it."""
        if self.database_url is None:
            return "<unset>"
        return redact(self.database_url.get_secret_value())


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if item["loc"] else message)
    return "invalid configuration: " + "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; a bad value is a ConfigError naming the variable."""
    env_file = os.environ.get("WORKER_ENV_FILE", ".env")
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
