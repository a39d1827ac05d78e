"""Strategies and datasets: listed and read from the tables, created through the same
`worker.admin` operations as `backtest-worker strategy create` and `dataset import`."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, ValidationError

from worker.admin.datasets import prepare_dataset_file, register_dataset
from worker.admin.strategies import create_strategy
from worker.api import queries
from worker.api.auth import ReadKey, WriteKey
from worker.api.context import ApiContext, api_context
from worker.api.models import DatasetOut, Page, StrategyOut, decode_time_cursor, encode_cursor
from worker.api.problems import PROBLEM_RESPONSES, Problem, describe_validation
from worker.engine.errors import EngineInputError
from worker.schemas import StrategyCreate

router = APIRouter(responses=PROBLEM_RESPONSES)
Context = Annotated[ApiContext, Depends(api_context)]
M = TypeVar("M", bound=BaseModel)
Limit = Annotated[int, Query(ge=1, le=500)]
BARS_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq"}


async def _page(
    context: ApiContext, table: str, model: type[M], cursor: str | None, limit: int
) -> Page[M]:
    rows = await queries.list_catalog(context.pool, table, decode_time_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return Page[model](  # type: ignore[valid-type]
        items=[model.model_validate(row) for row in rows], next_cursor=next_cursor
    )


async def _one(context: ApiContext, table: str, row_id: uuid.UUID) -> dict[str, Any]:
    row = await queries.get_catalog(context.pool, table, row_id)
    if row is None:
        raise Problem(
            404,
            f"no {table.removesuffix('s').replace('ie', 'y')} with id {row_id}",
            slug="not-found",
        )
    return row


def _input_problem(error: EngineInputError) -> Problem:
    return Problem(422, error.message, slug=error.type.replace("_", "-"), **error.detail)


@router.get("/strategies", response_model=Page[StrategyOut], tags=["strategies"])
async def list_strategies(
    context: Context, _key: ReadKey, limit: Limit = 100, cursor: str | None = None
) -> Page[StrategyOut]:
    return await _page(context, "strategies", StrategyOut, cursor, limit)


@router.get("/strategies/{strategy_id}", response_model=StrategyOut, tags=["strategies"])
async def get_strategy(strategy_id: uuid.UUID, context: Context, _key: ReadKey) -> Any:
    return await _one(context, "strategies", strategy_id)


@router.post("/strategies", status_code=201, response_model=StrategyOut, tags=["strategies"])
async def post_strategy(
    spec: StrategyCreate, response: Response, context: Context, _key: WriteKey
) -> Any:
    """Validate the parameters with the engine and register the strategy. The same name,
    version and params again: `200` with the existing one; other params: `409`."""
    async with context.sessions() as session:
        try:
            strategy, created = await create_strategy(
                session, spec.name, spec.params, spec.version, spec.description
            )
        except EngineInputError as error:
            raise _input_problem(error) from None
        except ValueError as error:
            raise Problem(409, str(error), slug="version-exists") from None
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/strategies/{strategy.id}"
    return StrategyOut.model_validate(strategy)


@router.get("/datasets", response_model=Page[DatasetOut], tags=["datasets"])
async def list_datasets(
    context: Context, _key: ReadKey, limit: Limit = 100, cursor: str | None = None
) -> Page[DatasetOut]:
    return await _page(context, "datasets", DatasetOut, cursor, limit)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, tags=["datasets"])
async def get_dataset(dataset_id: uuid.UUID, context: Context, _key: ReadKey) -> Any:
    return await _one(context, "datasets", dataset_id)


@router.post("/datasets", status_code=201, response_model=DatasetOut, tags=["datasets"])
async def upload_dataset(
    file: Annotated[UploadFile, File(description="CSV or Parquet bars (like `dataset import`)")],
    name: Annotated[str, Form(min_length=1, max_length=255)],
    response: Response,
    context: Context,
    _key: WriteKey,
    timeframe: Annotated[str | None, Form(max_length=8)] = None,
    symbol: Annotated[str | None, Form(max_length=32)] = None,
    date_format: Annotated[
        str | None, Form(max_length=64, description="strftime format, e.g. %d/%m/%Y")
    ] = None,
    force: Annotated[
        bool, Form(description="keep a timeframe that contradicts the bars' spacing")
    ] = False,
) -> Any:
    """Multipart upload through the import of `backtest-worker dataset import`: validated,
    canonicalised, hashed, stored under DATA_DIR. A bad file is a `422` naming the row and the
    rule (`timeframe-mismatch` and `ambiguous_dates` as the CLI refuses them; `force` and
    `date_format` are its `--force` and `--date-format`); the same content again is `200` with
    the existing dataset, which takes the new location. At most `API_MAX_UPLOAD_BYTES`."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in BARS_SUFFIXES:
        raise Problem(
            422,
            f"the file's name must end in one of {', '.join(sorted(BARS_SUFFIXES))}",
            slug="invalid-dataset",
            rule="unsupported_format",
        )
    with tempfile.TemporaryDirectory(prefix="bt-upload-") as scratch:
        local = Path(scratch) / f"upload{suffix}"
        await asyncio.to_thread(_save, file, local)
        try:
            spec = await asyncio.to_thread(
                partial(
                    prepare_dataset_file,
                    local,
                    name=name,
                    timeframe=timeframe,
                    symbol=symbol,
                    data_dir=context.settings.data_dir,
                    force=force,
                    date_format=date_format,
                )
            )
        except EngineInputError as error:
            raise _input_problem(error) from None
        except ValidationError as error:
            raise Problem(422, describe_validation(error), slug="invalid-dataset") from None
    async with context.sessions() as session:
        imported = await register_dataset(session, spec)
    if not imported.created:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/datasets/{imported.id}"
    return await _one(context, "datasets", imported.id)


def _save(upload: UploadFile, destination: Path) -> None:
    upload.file.seek(0)
    with destination.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)
