"""The dashboard's pages, fragments and forms under /dashboard.

Pages are whole documents; fragments are the parts the page's script swaps in when the live
stream says something changed (the runs table, the queue and workers, a run's body), so the
numbers always come from the tables and never from the browser's arithmetic. Write forms
answer with a redirect back (POST, then GET), so a reload never repeats them.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from worker.admin.apikeys import Scope
from worker.api import queries
from worker.api.auth import authorize
from worker.api.context import ApiContext, api_context
from worker.api.dashboard import live, views
from worker.api.dashboard.session import (
    PATH,
    FormReader,
    LoginRequired,
    Reader,
    Writer,
    cross_site,
    sign_in,
    sign_out,
)
from worker.api.problems import Problem
from worker.api.routes.results import Filename, artifact_response
from worker.api.routes.runs import RetryIn
from worker.queue import fleet

router = APIRouter(prefix=PATH, include_in_schema=False)
Context = Annotated[ApiContext, Depends(api_context)]
STATIC = Path(__file__).with_name("static")
#: Pages load only their own script and style, send forms only here, and are never framed.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
NOTICES = {
    "cancelled": "The run is cancelled.",
    "cancel-requested": "Cancellation requested: its worker stops it within seconds.",
    "finished": "The run had already finished: nothing to cancel.",
    "retried": "The run is pending again with a new attempt budget.",
    "not-retryable": "Only a failed or cancelled run can be retried.",
    "paused": "Claiming is paused for the whole fleet.",
    "resumed": "Workers claim again.",
}


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        text,
        status,
        headers={
            "Content-Security-Policy": POLICY,
            "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        },
    )


def back(path: str, notice: str | None = None) -> RedirectResponse:
    return RedirectResponse(f"{path}?notice={notice}" if notice else path, status_code=303)


@router.get("/login")
async def login_form() -> HTMLResponse:
    return html(views.render("login.html.j2", error=None))


@router.post("/login")
async def login(request: Request, context: Context, key: Annotated[str, Form()] = "") -> Response:
    """Check the key as any API request would, then keep it in the session's cookie."""
    if cross_site(request):
        raise Problem(403, "sign in from the dashboard's own login form", slug="csrf")
    secret = key.strip()
    try:
        await authorize(context, secret, Scope.READ)
    except Problem as problem:
        if problem.status != 401:
            raise
        message = "Paste an API key." if not secret else "This key is unknown or revoked."
        return html(views.render("login.html.j2", error=message), 401)
    response = back(PATH)
    sign_in(response, request, secret)
    return response


@router.post("/logout")
async def logout(request: Request, _visitor: FormReader) -> Response:
    response = back(f"{PATH}/login")
    sign_out(response, request)
    return response


@router.get("")
async def overview_page(request: Request, context: Context, visitor: Reader) -> HTMLResponse:
    where = views.RunsQuery.parse(request.query_params)
    return html(
        views.render(
            "overview.html.j2",
            visitor=visitor,
            overview=await views.overview(context),
            page=await views.runs_page(context, where),
            notice=NOTICES.get(request.query_params.get("notice", "")),
        )
    )


@router.get("/fragments/queue")
async def queue_fragment(context: Context, visitor: Reader) -> HTMLResponse:
    return html(
        views.render("_queue.html.j2", visitor=visitor, overview=await views.overview(context))
    )


@router.get("/fragments/runs")
async def runs_fragment(request: Request, context: Context, _visitor: Reader) -> HTMLResponse:
    where = views.RunsQuery.parse(request.query_params)
    return html(views.render("_runs.html.j2", page=await views.runs_page(context, where)))


@router.get("/runs/{run_id}")
async def run_page(
    run_id: uuid.UUID, request: Request, context: Context, visitor: Reader
) -> HTMLResponse:
    view = await views.run_view(context, run_id, request.query_params.get("events") or None)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return html(views.render("run.html.j2", visitor=visitor, view=view, notice=notice))


@router.get("/fragments/runs/{run_id}")
async def run_fragment(
    run_id: uuid.UUID, request: Request, context: Context, visitor: Reader
) -> HTMLResponse:
    view = await views.run_view(context, run_id, request.query_params.get("events") or None)
    return html(views.render("_run.html.j2", visitor=visitor, view=view))


@router.get("/runs/{run_id}/artifacts/{filename}")
async def artifact(
    run_id: uuid.UUID,
    filename: Filename,
    context: Context,
    _visitor: Reader,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """The API's download; HTML (the report) and images open in the tab, sandboxed."""
    return await artifact_response(context, run_id, filename, if_none_match, inline=True)


@router.post("/runs/{run_id}/cancel")
async def cancel(run_id: uuid.UUID, context: Context, _visitor: Writer) -> Response:
    row = await queries.cancel_run(context.pool, run_id)
    if row is None:
        raise Problem(404, f"no run with id {run_id}", slug="not-found")
    notice = {"cancelled": "cancelled", "running": "cancel-requested"}.get(row["status"])
    return back(f"{PATH}/runs/{run_id}", notice or "finished")


@router.post("/runs/{run_id}/retry")
async def retry(run_id: uuid.UUID, context: Context, _visitor: Writer) -> Response:
    try:
        retried = await fleet.retry_run(context.pool, run_id, RetryIn().attempts)
    except fleet.NotRetryable:
        return back(f"{PATH}/runs/{run_id}", "not-retryable")
    if retried is None and not await queries.run_exists(context.pool, run_id):
        raise Problem(404, f"no run with id {run_id}", slug="not-found")
    return back(f"{PATH}/runs/{run_id}", "retried" if retried else "not-retryable")


@router.post("/queue/{action}")
async def pause_or_resume(action: str, context: Context, visitor: Writer) -> Response:
    if action not in ("pause", "resume"):
        raise Problem(404, f"no queue action {action!r}", slug="not-found")
    await fleet.set_paused(
        context.pool, action == "pause", f"dashboard:{visitor.principal.name}"[:255]
    )
    return back(PATH, "paused" if action == "pause" else "resumed")


async def _to_login(request: Request, error: Exception) -> Response:
    if request.url.path.startswith((f"{PATH}/fragments/", f"{PATH}/live")) or (
        request.url.path.endswith("/stream")
    ):
        return Response("sign in again", 401, media_type="text/plain")
    return RedirectResponse(f"{PATH}/login", status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(live.router)
    app.mount(f"{PATH}/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.add_exception_handler(LoginRequired, _to_login)
