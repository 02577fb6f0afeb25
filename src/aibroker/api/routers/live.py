"""Live updates: server-sent event streams (customer and console), the customer's typing, resume links.

Stream format (`text/event-stream`): each event has `id:` (its Redis stream entry id; send it back as
`Last-Event-ID` to resume after it) and `event:` one of message, typing, read, status, sla (domain/live_events.py
documents their data). A client that does not accept `text/event-stream` (a script, a test tool) gets the events
after `Last-Event-ID` and the response ends; `EventSource` does, and its stream stays open.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import StreamingResponse
from redis.exceptions import RedisError

from aibroker.adapters.queue.redis_budget import bounded
from aibroker.adapters.realtime.live import LiveHub, live_stream
from aibroker.adapters.resume_links import ResumeLinks
from aibroker.api.console_auth import ConsoleCaller
from aibroker.api.deps import ContainerDep, CustomerConversation, CustomerConversationStream
from aibroker.api.errors import error_responses
from aibroker.api.schemas import BrokerOut, ResumedOut, ResumeIn, ResumeLinkOut, TypingIn, TypingOut
from aibroker.bootstrap import Container
from aibroker.domain.live_events import LiveEvent
from aibroker.domain.privacy import token_matches
from aibroker.errors import DependencyUnavailable, InvalidRequest, NotFound

router = APIRouter(prefix="/api/conversations", tags=["live"])
console_router = APIRouter(prefix="/api/console", tags=["live"])
resume_router = APIRouter(prefix="/api", tags=["live"])  # not under /api/conversations/{id}: its own path

TYPING_THROTTLE_MS = 2000  # one "typing" per conversation per 2 s reaches the console; "stopped" always does
_EVENT_ID = r"^\d{1,20}-\d{1,20}$"
# Not `str | None`: OpenAPI would then allow a null, which a header can only spell as the text "null". Empty (the
# default) means from the start of the kept stream.
LastEventId = Annotated[str, Header(alias="Last-Event-ID", pattern=r"^(\d{1,20}-\d{1,20})?$", description=(
    "the `id:` of the last event received: the stream resumes after it (browsers send it on reconnect)"))]
# One event of the stream (OpenAPI 3.1: a text/event-stream `schema` describes each event).
_EVENT_SCHEMA = {"type": "object", "required": ["id", "event", "data"], "properties": {
    "id": {"type": "string", "pattern": _EVENT_ID, "description": "send it back as `Last-Event-ID`"},
    "event": {"type": "string", "enum": ["message", "typing", "read", "status", "sla"]},
    "data": {"type": "string", "contentMediaType": "application/json",
             "description": "a JSON object: see domain/live_events.py"}}}
_STREAM: dict[int | str, dict[str, Any]] = {200: {"description": "an event stream (see the tag's description)",
                                                  "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}}}}


def _parts(container: Container) -> tuple[LiveHub, ResumeLinks]:
    assert container.live is not None and container.resume_links is not None  # wired by build_container
    return container.live, container.resume_links


def _response(request: Request, container: Container, conversation_id: int | None,
              last_event_id: str) -> StreamingResponse:
    hub, _ = _parts(container)
    follow = "text/event-stream" in request.headers.get("accept", "")

    async def enrich(event: LiveEvent) -> LiveEvent | None:
        """A message event published without its text (read from the inbox by id); None once it is gone."""
        record = await container.store.get_conversation(int(event.data["conversation_id"]))
        if record is None:
            return None
        for message in await container.inbox.list_messages(record.inbox_conversation_id):
            if message.id == event.data["id"] and not message.private:
                return replace(event, data={**event.data, "content": message.content, "role": message.role.value,
                                            "created_at": message.created_at.isoformat()})
        return None

    if hub.open_streams >= hub.max_connections:
        raise DependencyUnavailable("live events", "too many open streams on this server (SSE_MAX_CONNECTIONS)",
                                    retry_after_s=5)
    body = live_stream(hub, container.events, conversation_id, last_event_id or None, enrich, follow=follow)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/{conversation_id}/events", response_class=StreamingResponse, responses={
    **_STREAM, **error_responses(404, 422, 503)})
async def conversation_events(request: Request, record: CustomerConversationStream, container: ContainerDep,
                              last_event_id: LastEventId = "") -> StreamingResponse:
    """This conversation's live events (kept 24 h): the conversation token as `X-Conversation-Token` or as
    `?token=` (for `EventSource`)."""
    return _response(request, container, record.id, last_event_id)


@console_router.get("/events", response_class=StreamingResponse, responses={
    **_STREAM, **error_responses(401, 422, 503)})
async def console_events(request: Request, _agent: ConsoleCaller, container: ContainerDep,
                         last_event_id: LastEventId = "") -> StreamingResponse:
    """Every conversation's live events, for the agents' console (a signed-in agent, or the admin token)."""
    return _response(request, container, None, last_event_id)


@router.post("/{conversation_id}/typing", response_model=TypingOut, status_code=status.HTTP_202_ACCEPTED,
             responses=error_responses(400, 404, 413, 422, 503))
async def customer_typing(record: CustomerConversation, body: TypingIn, container: ContainerDep) -> TypingOut:
    """The customer is typing (or stopped): shown in the console. The page sends no text before it is posted."""
    # At most one "typing" per TYPING_THROTTLE_MS; a "stopped" ends the window, so typing that starts again right
    # after a message was sent is shown too.
    throttle = f"{container.settings.queue_prefix}:aibroker:typing:{record.id}"
    try:
        async with bounded(1.0):
            first = await (container.redis.set(throttle, "1", nx=True, px=TYPING_THROTTLE_MS) if body.on
                           else container.redis.delete(throttle))
    except (TimeoutError, RedisError, OSError) as error:
        raise DependencyUnavailable("redis", f"typing not sent: {type(error).__name__}") from error
    if body.on and not first:
        return TypingOut(sent=False)
    await container.events.publish(record.id, "typing", {"who": "customer", "on": body.on})
    return TypingOut(sent=True)


@router.post("/{conversation_id}/resume-link", response_model=ResumeLinkOut,
             responses=error_responses(404, 422, 503))
async def resume_link(request: Request, record: CustomerConversation, container: ContainerDep) -> ResumeLinkOut:
    """A link that opens this conversation on another device, once, within RESUME_LINK_TTL_S."""
    token = request.headers.get("x-conversation-token")
    if not token_matches(token, record.token_hash):  # (the admin token opens it, but cannot be handed on)
        raise InvalidRequest("X-Conversation-Token: a resume link needs the conversation's own token")
    _, links = _parts(container)
    resume_token, expires_at = await links.issue(record.id, str(token))
    return ResumeLinkOut(path=f"/?resume={resume_token}", expires_at=expires_at, expires_in_s=links.ttl_s)


@resume_router.post("/resume", response_model=ResumedOut,
                    responses=error_responses(400, 401, 404, 410, 413, 422, 503))
async def resume(body: ResumeIn, container: ContainerDep, response: Response) -> ResumedOut:
    """Redeem a resume link: this device gets the conversation's token. Works once; 410 when expired or used."""
    response.headers["Cache-Control"] = "no-store"  # it carries the conversation's token
    _, links = _parts(container)
    conversation_id, token = await links.redeem(body.resume_token)
    record = await container.store.get_conversation(conversation_id)
    if record is None or not token_matches(token, record.token_hash):
        raise NotFound("conversation not found")  # erased since the link was made
    return ResumedOut(conversation_id=record.id, conversation_token=token,
                      broker=BrokerOut.named(record.persona_name))
