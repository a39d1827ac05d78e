"""How a browser signs in to the dashboard: a login form POSTs an API key; the answer sets
it as a cookie that scripts cannot read (HttpOnly), sent only to /dashboard and only by the
dashboard's own pages (SameSite=Strict), over HTTPS only when served over HTTPS (Secure).
The key is checked on every request like a Bearer key (revocation, scope, rate limit), so
nothing is stored on the server and every API process accepts it. It never appears in a
URL: pages, fragments, live streams and artifacts are fetched with the cookie.

Writes (cancel, retry, pause, resume, sign out) are POST forms carrying a CSRF token: an
HMAC of a fixed text under the key itself, so any process can check it and no other site
can know it. The login form refuses a cross-site POST (`Sec-Fetch-Site`), so no other site
can sign a browser in under its own key.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Form
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from worker.admin.apikeys import Scope
from worker.api.auth import Principal, authorize
from worker.api.context import ApiContext
from worker.api.problems import Problem

COOKIE = "bt_dashboard"
PATH = "/dashboard"
_CSRF_TEXT = b"backtest-dashboard-csrf"


class LoginRequired(Exception):
    """No cookie, or its key is unknown or revoked: the browser is sent to the login form."""


class Visitor:
    """The signed-in key: who it is and the token its write forms carry."""

    def __init__(self, principal: Principal, secret: str) -> None:
        self.principal = principal
        self.csrf = csrf_token(secret)

    @property
    def can_write(self) -> bool:
        return self.principal.scope is Scope.WRITE


def csrf_token(secret: str) -> str:
    return hmac.new(secret.encode(), _CSRF_TEXT, hashlib.sha256).hexdigest()


def _context(connection: HTTPConnection) -> ApiContext:
    context: ApiContext = connection.app.state.api
    return context


async def _visitor(connection: HTTPConnection, needs: Scope) -> Visitor:
    secret = connection.cookies.get(COOKIE)
    if not secret:
        raise LoginRequired()
    try:
        principal = await authorize(_context(connection), secret, needs)
    except Problem as problem:
        if problem.status == 401:
            raise LoginRequired() from None
        raise
    return Visitor(principal, secret)


async def reader(connection: HTTPConnection) -> Visitor:
    return await _visitor(connection, Scope.READ)


async def form_reader(connection: HTTPConnection, csrf: Annotated[str, Form()] = "") -> Visitor:
    """A signed-in key whose form carries the CSRF token of its pages (sign out)."""
    return _checked(await _visitor(connection, Scope.READ), csrf)


async def writer(connection: HTTPConnection, csrf: Annotated[str, Form()] = "") -> Visitor:
    """A write key, and the form's CSRF token must be the one its pages carry."""
    return _checked(await _visitor(connection, Scope.WRITE), csrf)


def _checked(visitor: Visitor, csrf: str) -> Visitor:
    if not hmac.compare_digest(csrf.encode(), visitor.csrf.encode()):
        raise Problem(
            403, "the form's CSRF token is missing or wrong; reload the page", slug="csrf"
        )
    return visitor


Reader = Annotated[Visitor, Depends(reader)]
FormReader = Annotated[Visitor, Depends(form_reader)]
Writer = Annotated[Visitor, Depends(writer)]


def cross_site(request: Request) -> bool:
    return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


def sign_in(response: Response, request: Request, secret: str) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def sign_out(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path=PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
