"""Registering strategies: params are validated by the engine before they are stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from worker.db import Strategy
from worker.engine.strategies import parse_strategy
from worker.schemas import StrategyCreate


async def create_strategy(
    session: AsyncSession,
    name: str,
    params: dict[str, Any],
    version: str = "1.0.0",
    description: str | None = None,
) -> tuple[Strategy, bool]:
    """Validate and insert; an existing (name, version) with the same params is returned as is.

    Raises ValueError when (name, version) exists with other params: versions are immutable.
    """
    spec = StrategyCreate(name=name, version=version, params=params, description=description)
    parse_strategy(spec.params)
    result = await session.execute(
        insert(Strategy)
        .values(**spec.model_dump())
        .on_conflict_do_nothing(constraint="uq_strategies_name_version")
        .returning(Strategy.id)
    )
    new_id = result.scalar_one_or_none()
    existing = (
        await session.execute(
            select(Strategy).where(Strategy.name == spec.name, Strategy.version == spec.version)
        )
    ).scalar_one()
    await session.commit()
    if new_id is None and existing.params != spec.params:
        raise ValueError(
            f"strategy {spec.name} v{spec.version} already exists with other parameters;"
            " give the new parameters a new version"
        )
    return existing, new_id is not None


async def list_strategies(session: AsyncSession) -> list[Strategy]:
    query = select(Strategy).order_by(Strategy.name, Strategy.version)
    return list((await session.execute(query)).scalars())
