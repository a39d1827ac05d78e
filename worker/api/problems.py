"""RFC 9457 problem details: every error is `application/problem+json`, never a stack trace.

`type` is a relative URI `/problems/<slug>` (documented in docs/contract.md), or `about:blank`
when the HTTP status says everything.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("worker.api")


class Problem(Exception):
    """An error response. `extra` members are added beside type/title/status/detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extra = extra


def problem_body(
    status: int, detail: str | None, slug: str | None = None, title: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body = problem_body(
        problem.status, problem.detail, problem.slug, problem.title, **problem.extra
    )
    if instance:
        body["instance"] = instance
    return JSONResponse(body, problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the input (which may be large or secret)."""
    return [
        {
            "loc": [str(part) for part in item["loc"]],
            "message": str(item["msg"]).removeprefix("Value error, "),
            "type": item["type"],
        }
        for item in error.errors()
    ]


def describe_validation(error: ValidationError) -> str:
    """`field: message; …` from a pydantic error, without echoing the input."""
    return "; ".join(
        ".".join(str(part) for part in item["loc"])
        + ": "
        + str(item["msg"]).removeprefix("Value error, ")
        for item in error.errors(include_input=False, include_url=False)
    )


async def _on_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return problem_response(error, request.url.path)


async def _on_http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail if error.detail != HTTPStatus(error.status_code).phrase else None
    return problem_response(
        Problem(error.status_code, detail or "", headers=dict(error.headers or {})),
        request.url.path,
    )


async def _on_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problem = Problem(
        422,
        "the request does not match the schema; see errors",
        slug="validation",
        errors=field_errors(error),
    )
    return problem_response(problem, request.url.path)


async def _on_crash(request: Request, error: Exception) -> JSONResponse:
    log.error("api_unhandled_error", path=request.url.path, exc_info=error)
    problem = Problem(500, "the server failed; the error is in its log", slug="internal")
    return problem_response(problem, request.url.path)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Exception, _on_crash)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": HTTPStatus(status).phrase, "content": {MEDIA_TYPE: {}}}
    for status in (401, 403, 404, 422, 429)
}
