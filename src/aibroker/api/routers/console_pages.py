"""The console's pages: `/console` (the sign-in form, or the console once signed in), sign-in and sign-out.

Sign-in is a plain HTML form (works without JavaScript). Wrong passwords are counted per client IP and per e-mail
address (RATE_LIMIT_CONSOLE_LOGIN_*); over either limit every attempt, right or wrong, is refused with 429 and
`Retry-After` until the window frees. A form posted from another site is refused (its `Origin` is not ours).
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from aibroker.api.console_auth import (
    clear_session_cookie,
    session_caller,
    sessions_of,
    set_session_cookie,
)
from aibroker.api.deps import ContainerDep
from aibroker.api.ratelimit import request_client_ip
from aibroker.domain.ports import RateCharge, RateRefusal

STATIC_DIR = Path(__file__).resolve().parent.parent.parent / "web" / "static"
ERROR_SLOT = '<p id="login-error" class="error" role="alert" hidden></p>'

router = APIRouter(include_in_schema=False)


def _login_page(status: int = 200, error: str | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    page = (STATIC_DIR / "console-login.html").read_text(encoding="utf-8")
    if error:  # our own fixed sentences, escaped all the same
        page = page.replace(ERROR_SLOT, f'<p id="login-error" class="error" role="alert">{html.escape(error)}</p>')
    return HTMLResponse(page, status_code=status, headers=headers)


def _same_origin(request: Request) -> bool:
    """Browsers say where a form came from: `Sec-Fetch-Site` (our pages send no referrer, so their `Origin` is
    "null"), else `Origin`. Neither (old clients, curl) is allowed: the cookie is SameSite=Strict anyway, so a
    cross-site post could not ride on a session; this stops a stranger's page signing a browser in to its account."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin in (None, "null") or origin == f"{request.url.scheme}://{request.url.netloc}"


def _charges(request: Request, email: str) -> list[RateCharge]:
    # The address as a hash: no e-mail address in Redis keys.
    subject = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return [RateCharge("console_login_per_ip", request_client_ip(request)),
            RateCharge("console_login_per_email", subject)]


def _too_many(refusal: RateRefusal) -> HTMLResponse:
    return _login_page(429, f"Too many wrong passwords: try again in {refusal.retry_after_s} seconds.",
                       {"Retry-After": str(refusal.retry_after_s)})


@router.get("/console")
async def console_page(request: Request, container: ContainerDep) -> Response:
    if await session_caller(request, container) is None:
        return _login_page()
    return FileResponse(STATIC_DIR / "console.html")


@router.post("/console/login")
async def login(request: Request, container: ContainerDep, email: Annotated[str, Form(max_length=320)],
                password: Annotated[str, Form(max_length=1024)]) -> Response:
    if not _same_origin(request):
        return _login_page(403, "Sign in from this site's own sign-in page.")
    limiter = container.limiter
    charges = _charges(request, email)
    if limiter is not None and (refusal := await limiter.check(charges)) is not None:
        return _too_many(refusal)
    agent = await container.agents.authenticate(email, password)
    if agent is None:
        if limiter is not None and (refusal := await limiter.acquire(charges)) is not None:
            return _too_many(refusal)
        return _login_page(401, "Wrong e-mail address or password.")
    cookie, _csrf = sessions_of(request).issue(agent.id)
    response = RedirectResponse("/console", status_code=303)
    set_session_cookie(request, response, cookie)
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    """Ends the session in this browser. (A cross-site post cannot carry the SameSite=Strict cookie.)"""
    response = RedirectResponse("/console", status_code=303)
    clear_session_cookie(request, response)
    return response
