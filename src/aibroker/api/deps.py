"""Request dependencies as `Annotated` aliases: the container, the admin check and a customer's conversation."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from aibroker.bootstrap import Container
from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.privacy import token_matches
from aibroker.errors import NotFound, Unauthorized

# Conversation ids are at most a signed 64-bit integer in both databases: a larger one cannot exist (and would
# make the driver fail), so it gets the same 404 without a query.
_MAX_ID = 2**63 - 1
# Said for a missing id AND for a conversation the caller may not open: one answer, so ids cannot be probed.
CONVERSATION_NOT_FOUND = "conversation not found"


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def _presented_admin_token(authorization: str | None, x_admin_token: str | None) -> str:
    return x_admin_token or (authorization[7:] if authorization and authorization.startswith("Bearer ") else "")


def is_admin(request: Request, authorization: str | None, x_admin_token: str | None) -> bool:
    """The request carries the operators' token (constant-time check); False when admin routes are off."""
    expected = request.app.state.container.settings.admin_token
    given = _presented_admin_token(authorization, x_admin_token)
    return bool(expected is not None and given
                and hmac.compare_digest(given.encode(), expected.get_secret_value().encode()))


def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None,
                  x_admin_token: Annotated[str | None, Header()] = None) -> str:
    if request.app.state.container.settings.admin_token is None:
        raise Unauthorized("admin routes are disabled: set AIBROKER_ADMIN_TOKEN")
    if not is_admin(request, authorization, x_admin_token):
        raise Unauthorized("missing or wrong admin token (Authorization: Bearer <AIBROKER_ADMIN_TOKEN>)")
    return "admin"


AdminDep = Annotated[str, Depends(require_admin)]


async def _open(request: Request, container: Container, conversation_id: int, token: str | None,
                authorization: str | None, x_admin_token: str | None) -> ConversationRecord:
    """The conversation, if the caller may see it: its own access token or the admin token. Every refusal is
    the same NotFound as a missing id (same status, same body), whichever check failed."""
    record = await container.store.get_conversation(conversation_id) if 1 <= conversation_id <= _MAX_ID else None
    if record is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    if not token_matches(token, record.token_hash) and not is_admin(request, authorization, x_admin_token):
        raise NotFound(CONVERSATION_NOT_FOUND)
    return record


async def customer_conversation(
        request: Request, conversation_id: int, container: ContainerDep,
        x_conversation_token: Annotated[str | None, Header(max_length=256, description=(
            "the `conversation_token` the lead form's answer gave; the admin token works too"))] = None,
        authorization: Annotated[str | None, Header()] = None,
        x_admin_token: Annotated[str | None, Header()] = None) -> ConversationRecord:
    return await _open(request, container, conversation_id, x_conversation_token, authorization, x_admin_token)


CustomerConversation = Annotated[ConversationRecord, Depends(customer_conversation)]


async def customer_conversation_stream(
        request: Request, conversation_id: int, container: ContainerDep,
        token: Annotated[str | None, Query(max_length=256, description=(
            "the conversation token, for browsers' EventSource, which cannot send headers"))] = None,
        x_conversation_token: Annotated[str | None, Header(max_length=256)] = None,
        authorization: Annotated[str | None, Header()] = None,
        x_admin_token: Annotated[str | None, Header()] = None) -> ConversationRecord:
    """For event-stream routes only (`EventSource` cannot set headers): the token may also come as `?token=`.
    Nowhere else: a query string travels further than a header (proxies, browser history), and our own logs
    must never print one (issue #10, item 9). The header wins when both are sent."""
    return await _open(request, container, conversation_id, x_conversation_token or token, authorization,
                       x_admin_token)


CustomerConversationStream = Annotated[ConversationRecord, Depends(customer_conversation_stream)]
