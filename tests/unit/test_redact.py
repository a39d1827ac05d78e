"""Passwords are masked in every form a URL or DSN carries them; asyncpg's pool-floor
warning is one line a minute."""

from __future__ import annotations

import logging
import sys

import pytest

from worker.config import load_settings
from worker.logs import PoolFloorFilter
from worker.redact import redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "p%40ss"),
        ("postgres://u:pa@ss@h/db", "pa@ss"),
        ("postgresql://u@h/db?sslmode=require&password=s3", "s3"),
        ("postgresql://u@h/db?PassWord=s3&x=1", "s3"),
        ("postgresql://u@h/db?sslpassword=k3y", "k3y"),
        ("connect failed: host=h password='a b c' dbname=x", "a b c"),
        ("dsn was postgresql://a:zz9@host/db, giving up", "zz9"),
    ],
)
def test_redact_masks_every_form(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_the_pool_floor_warning_is_one_line_a_minute() -> None:
    floor = PoolFloorFilter(every=60.0)
    records = []
    for _ in range(27):
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError:
            record = logging.LogRecord(
                "asyncpg.pool", logging.WARNING, __file__, 1,
                "Failed to restore the pool connection floor; retrying", None, sys.exc_info(),
            )  # fmt: skip
        if floor.filter(record):
            records.append(record)
    [kept] = records
    assert kept.exc_info is None and "ConnectionRefusedError" in kept.getMessage()


def test_redacted_database_url_masks_query_passwords() -> None:
    url = "postgresql://u:one@h/db?password=two&sslpassword=three"
    shown = load_settings(database_url=url).redacted_database_url
    assert "one" not in shown and "two" not in shown and "three" not in shown
