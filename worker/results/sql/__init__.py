"""SQL statements of the results side (inputs of a run, artifact rows), one `.sql` file each."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of `sql/<name>.sql`, read once per process."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
