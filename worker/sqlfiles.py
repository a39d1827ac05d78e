"""Loading SQL statements kept one per `.sql` file beside the code that runs them.

Statements are parameterized (`$1`, `$2`, …); nothing is ever formatted into SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources


def sql_loader(package: str) -> Callable[[str], str]:
    """`load(name)` returns the text of `<package>/<name>.sql`, read once per process."""

    @cache
    def load(name: str) -> str:
        return resources.files(package).joinpath(f"{name}.sql").read_text(encoding="utf-8")

    return load
