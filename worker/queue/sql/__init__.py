"""Every SQL statement of the queue, one `.sql` file each, read once at import.

Statements are parameterized (`$1`, `$2`, …); nothing is ever formatted into SQL text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of `sql/<name>.sql` (cached: each file is read once per process)."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
