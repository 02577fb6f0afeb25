"""Who may use the console: a signed-in agent (session cookie) or a script with the admin token.

`ConsoleCaller` is the one dependency every console route uses (the JSON API, the event stream, the ops page):

- `Authorization: Bearer <AIBROKER_ADMIN_TOKEN>` (or `X-Admin-Token`): a script; no cookie, so no CSRF question.
- the session cookie `aibroker_console`: signed with SESSION_SECRET (itsdangerous, 12 h), HttpOnly,
  SameSite=Strict, Secure on https. It names the agent's id; the agent is looked up on every request, so a removed
  agent's cookie stops working at once. Unsafe methods (POST…) also need the header `X-CSRF-Token` equal to the
  token inside the cookie (the page gets it from `GET /api/console/me`, which another site cannot read).

Without SESSION_SECRET a random secret is made at start-up (logged as a warning): sessions then end with a restart
and are not shared between API processes. Set it (32+ characters) for anything but a try-out.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from aibroker.api.deps import AuthorizationHeader, BearerScheme, ContainerDep, is_admin
from aibroker.config import Settings
from aibroker.errors import Forbidden, Unauthorized
from aibroker.logging import get_logger

log = get_logger(__name__)

COOKIE = "aibroker_console"
SESSION_MAX_AGE_S = 12 * 3600
ADMIN_TOKEN_CALLER = "admin-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: an agent (`kind` agent, with id, e-mail and name) or the admin token (`kind` admin-token)."""

    kind: str
    name: str
    email: str | None = None
    agent_id: int | None = None
    is_admin: bool = False
    csrf_token: str | None = None

    @property
    def label(self) -> str:
        """How actions are attributed in notes and events (an agent's name; never an e-mail address)."""
        return self.name


class ConsoleSessions:
    """Signs and reads the session cookie's content: {"a": agent id, "c": CSRF token}."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="aibroker.console.session")

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleSessions:
        if settings.session_secret is not None:
            return cls(settings.session_secret.get_secret_value())
        log.warning("SESSION_SECRET is not set: console sessions are signed with a random secret made now; they "
                    "end when this process restarts and other API processes do not accept them")
        return cls(secrets.token_urlsafe(32))

    def issue(self, agent_id: int) -> tuple[str, str]:
        """A new session's cookie value and its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        return self._serializer.dumps({"a": agent_id, "c": csrf}), csrf

    def read(self, cookie: str) -> tuple[int, str] | None:
        try:
            data: Any = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:  # (SignatureExpired is one)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("a"), int) or not isinstance(data.get("c"), str):
            return None
        return data["a"], data["c"]


def sessions_of(request: Request) -> ConsoleSessions:
    sessions: ConsoleSessions = request.app.state.console_sessions
    return sessions


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(COOKIE, value, max_age=SESSION_MAX_AGE_S, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")


async def session_caller(request: Request, container: ContainerDep) -> Caller | None:
    """The signed-in agent of this request's cookie, if the cookie is good and the agent still exists."""
    cookie = request.cookies.get(COOKIE)
    session = sessions_of(request).read(cookie) if cookie else None
    if session is None:
        return None
    agent = await container.agents.get(session[0])
    if agent is None:  # removed since signing in
        return None
    return Caller(kind="agent", name=agent.name, email=agent.email, agent_id=agent.id, is_admin=agent.is_admin,
                  csrf_token=session[1])


async def console_caller(
        request: Request, container: ContainerDep, authorization: AuthorizationHeader = None,
        x_admin_token: AuthorizationHeader = None,
        x_csrf_token: Annotated[str | None, Header(include_in_schema=False)] = None,
        _scheme: BearerScheme = None) -> Caller:
    if is_admin(request, authorization, x_admin_token):
        return Caller(kind=ADMIN_TOKEN_CALLER, name=ADMIN_TOKEN_CALLER, is_admin=True)
    caller = await session_caller(request, container)
    if caller is None:
        raise Unauthorized("sign in at /console, or send the admin token (Authorization: Bearer …)")
    if request.method not in SAFE_METHODS and not (
            x_csrf_token and caller.csrf_token and hmac.compare_digest(x_csrf_token, caller.csrf_token)):
        raise Forbidden("missing or wrong X-CSRF-Token header (GET /api/console/me gives the session's token)")
    return caller


ConsoleCaller = Annotated[Caller, Depends(console_caller)]


async def operator_caller(caller: ConsoleCaller) -> Caller:
    """The operations routes the ops page uses (analytics, rollout, queue, brokers): the admin token, or a signed-in
    agent added with `--admin` (with the CSRF header for unsafe methods, as every console call)."""
    if not caller.is_admin:
        raise Forbidden("the operations routes need an admin agent (aibroker agent add … --admin) or the admin token")
    return caller


OperatorDep = Annotated[Caller, Depends(operator_caller)]
