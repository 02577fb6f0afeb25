"""Request dependencies as `Annotated` aliases (one place to read the container and check the admin token)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from aibroker.bootstrap import Container
from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.privacy import token_matches
from aibroker.errors import NotFound, Unauthorized

# Said for a missing id AND for a conversation the caller may not open: one answer, so ids cannot be probed.
CONVERSATION_NOT_FOUND = "conversation not found"


def container_of(request: Request) -> Container:
    """For the webhook's hot path, read directly: solving even one FastAPI dependency costs a few % of its CPU."""
    container: Container = request.app.state.container
    return container


async def get_container(request: Request) -> Container:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on every request."""
    return container_of(request)


ContainerDep = Annotated[Container, Depends(get_container)]

# Our ids are PostgreSQL INTEGER columns: a larger one cannot exist, and the driver would fail on it (a 500).
# Out of range is malformed input (422) for every id alike, so it tells nothing about which conversations exist.
MAX_ID = 2_147_483_647
ConversationId = Annotated[int, Path(ge=1, le=MAX_ID, description="the conversation's id (from lead intake)")]

# Declares the admin token in OpenAPI (Swagger UI's "Authorize", schemathesis's auth); the check itself reads the
# headers below, which stay out of the document so they are not offered as ordinary parameters.
_bearer = HTTPBearer(auto_error=False, description="AIBROKER_ADMIN_TOKEN (or send it as X-Admin-Token)")
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]
BearerScheme = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _presented_admin_token(authorization: str | None, x_admin_token: str | None) -> str:
    return x_admin_token or (authorization[7:] if authorization and authorization.startswith("Bearer ") else "")


def is_admin(request: Request, authorization: str | None, x_admin_token: str | None) -> bool:
    """The request carries the operators' token (constant-time check); False when admin routes are off."""
    expected = request.app.state.container.settings.admin_token
    given = _presented_admin_token(authorization, x_admin_token)
    return bool(expected is not None and given
                and hmac.compare_digest(given.encode(), expected.get_secret_value().encode()))


def require_admin(request: Request, authorization: AuthorizationHeader = None,
                  x_admin_token: AuthorizationHeader = None,
                  _scheme: BearerScheme = None) -> str:
    if request.app.state.container.settings.admin_token is None:
        raise Unauthorized("admin routes are disabled: set AIBROKER_ADMIN_TOKEN")
    if not is_admin(request, authorization, x_admin_token):
        raise Unauthorized("missing or wrong admin token (Authorization: Bearer <AIBROKER_ADMIN_TOKEN>)")
    return "admin"


AdminDep = Annotated[str, Depends(require_admin)]


def admin_view(request: Request, authorization: AuthorizationHeader = None,
               x_admin_token: AuthorizationHeader = None) -> bool:
    """For routes anyone may call that show operators more (host names, pids, counts, error texts)."""
    return is_admin(request, authorization, x_admin_token)


AdminViewDep = Annotated[bool, Depends(admin_view)]


async def _open(request: Request, container: Container, conversation_id: int, token: str | None,
                authorization: str | None, x_admin_token: str | None) -> ConversationRecord:
    """The conversation, if the caller may see it: its own access token or the admin token. Every refusal is
    the same NotFound as a missing id (same status, same body), whichever check failed."""
    record = await container.store.get_conversation(conversation_id)
    if record is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    if not token_matches(token, record.token_hash) and not is_admin(request, authorization, x_admin_token):
        raise NotFound(CONVERSATION_NOT_FOUND)
    return record


async def customer_conversation(
        request: Request, conversation_id: ConversationId, container: ContainerDep,
        x_conversation_token: Annotated[str | None, Header(max_length=256, description=(
            "the `conversation_token` the lead form's answer gave; the admin token works too"))] = None,
        authorization: AuthorizationHeader = None, x_admin_token: AuthorizationHeader = None) -> ConversationRecord:
    return await _open(request, container, conversation_id, x_conversation_token, authorization, x_admin_token)


CustomerConversation = Annotated[ConversationRecord, Depends(customer_conversation)]


async def customer_conversation_stream(
        request: Request, conversation_id: ConversationId, container: ContainerDep,
        token: Annotated[str | None, Query(max_length=256, description=(
            "the conversation token, for browsers' EventSource, which cannot send headers"))] = None,
        x_conversation_token: Annotated[str | None, Header(max_length=256)] = None,
        authorization: AuthorizationHeader = None, x_admin_token: AuthorizationHeader = None) -> ConversationRecord:
    """For event-stream routes only (`EventSource` cannot set headers): the token may also come as `?token=`.
    Nowhere else: a query string travels further than a header (proxies, browser history), and our own logs
    never print one (uvicorn's access log has its query stripped). The header wins when both are sent."""
    return await _open(request, container, conversation_id, x_conversation_token or token, authorization,
                       x_admin_token)


CustomerConversationStream = Annotated[ConversationRecord, Depends(customer_conversation_stream)]
