"""Short run ids: the shortest prefix (at least 8 hex digits) that names one run, shown by
the tables, and any unique prefix taken back wherever a run id is asked for.

A prefix is a range of the primary key (`00…` to `ff…` after it): PostgreSQL orders uuids
by their bytes, which is the order of their hex text, so the lookup is an index range scan.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import ARRAY, cast, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from worker.admin.runs import NotFound
from worker.db import Run

MIN_SHOWN = 8  # the first group of a uuid: unique among thousands of runs
MIN_ACCEPTED = 4
_HEX = re.compile(r"^[0-9a-f]+$")


class BadRunId(ValueError):
    """Not a uuid, nor a prefix of one."""


class AmbiguousRunId(LookupError):
    def __init__(self, prefix: str, matches: list[uuid.UUID]) -> None:
        shown = ", ".join(str(m) for m in matches[:5]) + (" …" if len(matches) > 5 else "")
        super().__init__(f"run id {prefix!r} is the start of several runs: {shown}")
        self.matches = matches


def parse_prefix(text: str) -> str:
    """The hex digits of a run id or of its start (hyphens anywhere, any case)."""
    digits = text.strip().lower().replace("-", "")
    if not _HEX.match(digits) or len(digits) > 32:
        raise BadRunId(f"run id {text!r} is not a UUID nor the start of one")
    if len(digits) < MIN_ACCEPTED:
        raise BadRunId(f"run id {text!r} is too short: give at least {MIN_ACCEPTED} hex digits")
    return digits


async def resolve_run_id(session: AsyncSession, text: str) -> uuid.UUID:
    """The run a full id or a unique prefix names; `LookupError` subclasses otherwise."""
    digits = parse_prefix(text)
    if len(digits) == 32:
        return uuid.UUID(digits)
    low = uuid.UUID(digits.ljust(32, "0"))
    high = uuid.UUID(digits.ljust(32, "f"))
    query = select(Run.id).where(Run.id.between(low, high)).order_by(Run.id).limit(6)
    matches = list((await session.execute(query)).scalars())
    if not matches:
        raise NotFound(f"no run with id starting {text.strip()!r}")
    if len(matches) > 1:
        raise AmbiguousRunId(text.strip(), matches)
    return matches[0]


def _common(a: uuid.UUID, b: uuid.UUID | None) -> int:
    if b is None:
        return 0
    n = 0
    for x, y in zip(a.hex, b.hex, strict=True):
        if x != y:
            break
        n += 1
    return n


def shorten(run_id: uuid.UUID, digits: int) -> str:
    """The first `digits` hex digits of the id, hyphens where the full id has them."""
    text = str(run_id)
    hyphens = sum(1 for position in (8, 12, 16, 20) if digits > position)
    return text[: digits + hyphens]


async def short_ids(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """For each id, its shortest unique prefix among every run in the table: one digit more
    than it shares with its neighbours in id order, and never under `MIN_SHOWN`."""
    if not run_ids:
        return {}
    given = (
        func.unnest(cast(list(run_ids), ARRAY(UUID(as_uuid=True))))
        .table_valued("id")
        .render_derived(name="given")
    )
    before = (
        select(Run.id).where(Run.id < given.c.id).order_by(Run.id.desc()).limit(1)
    ).scalar_subquery()
    after = (select(Run.id).where(Run.id > given.c.id).order_by(Run.id).limit(1)).scalar_subquery()
    rows = (await session.execute(select(given.c.id, before, after))).all()
    return {
        row[0]: shorten(row[0], max(MIN_SHOWN, 1 + max(_common(row[0], n) for n in row[1:])))
        for row in rows
    }
