"""Request dependencies as `Annotated` aliases (one place to read the container and check the admin token)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aibroker.bootstrap import Container
from aibroker.errors import Unauthorized


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]

# Our ids are PostgreSQL INTEGER columns: a larger one cannot exist, and the driver would fail on it (a 500).
MAX_ID = 2_147_483_647
ConversationId = Annotated[int, Path(ge=1, le=MAX_ID, description="the conversation's id (from lead intake)")]


# Declares the admin token in OpenAPI (Swagger UI's "Authorize", schemathesis's auth); the check itself reads the
# headers below, which stay out of the document so they are not offered as ordinary parameters.
_bearer = HTTPBearer(auto_error=False, description="AIBROKER_ADMIN_TOKEN (or send it as X-Admin-Token)")


def require_admin(request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
                  x_admin_token: Annotated[str | None, Header(include_in_schema=False)] = None,
                  _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None) -> str:
    expected = request.app.state.container.settings.admin_token
    if expected is None:
        raise Unauthorized("admin routes are disabled: set AIBROKER_ADMIN_TOKEN")
    given = x_admin_token or (authorization[7:] if authorization and authorization.startswith("Bearer ") else "")
    if not given or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise Unauthorized("missing or wrong admin token (Authorization: Bearer <AIBROKER_ADMIN_TOKEN>)")
    return "admin"


AdminDep = Annotated[str, Depends(require_admin)]


def admin_view(request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
               x_admin_token: Annotated[str | None, Header(include_in_schema=False)] = None) -> bool:
    """For routes anyone may call that show operators more (host names, pids, counts, error texts)."""
    try:
        require_admin(request, authorization, x_admin_token)
    except Unauthorized:
        return False
    return True


AdminViewDep = Annotated[bool, Depends(admin_view)]
