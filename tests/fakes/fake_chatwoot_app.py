"""The fake Chatwoot's routes: the Application API endpoints aibroker uses, with Chatwoot's status codes,
payload shapes and token rules (CHATWOOT.md §1–2). `emit(payload)` queues a webhook delivery."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tests.fakes.fake_chatwoot_faults import FaultPlan
from tests.fakes.fake_chatwoot_state import Actor, Conversation, FakeState

Emit = Callable[[dict[str, Any]], None]
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
STATUSES = ("open", "resolved", "pending", "snoozed")


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body


def _not_found() -> ApiError:
    return ApiError(404, {"error": "Resource could not be found"})


def _invalid(message: str, attribute: str) -> ApiError:
    return ApiError(422, {"message": message, "attributes": [attribute]})


def build_app(state: FakeState, faults: FaultPlan, emit: Emit, *,
              status_events: tuple[str, ...] = ("conversation_status_changed", "conversation_updated"),
              ) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> Response:
        return JSONResponse(error.body, status_code=error.status)

    @app.middleware("http")
    async def _faults(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        with state.lock:
            state.requests.append((request.method, request.url.path))
        fault = faults.take(request.method, request.url.path)
        if fault is None:
            return await call_next(request)
        if fault.kind == "timeout":
            response = await call_next(request) if fault.process else PlainTextResponse("slow", 504)
            await asyncio.sleep(fault.seconds)
            return response
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.status == 429:  # Rack::Attack's default throttled response
            return PlainTextResponse("Retry later\n", 429, headers=headers)
        if fault.status == 500:
            return JSONResponse({"status": 500, "error": "Internal Server Error"}, 500, headers=headers)
        return PlainTextResponse(f"<html><body>{fault.status}</body></html>", fault.status, headers=headers)

    def actor(request: Request, account_id: int, *, bots: bool) -> Actor:
        found = state.tokens.get(request.headers.get("api_access_token", ""))
        if found is None:
            raise ApiError(401, {"error": "Invalid Access Token"})
        if found.kind == "AgentBot" and not bots:
            raise ApiError(401, {"error": "Access to this endpoint is not authorized for bots"})
        if account_id != state.account["id"]:
            raise ApiError(401, {"error": "You are not authorized to access this account"})
        return found

    def anyone(request: Request, account_id: int) -> Actor:
        return actor(request, account_id, bots=True)

    def users(request: Request, account_id: int) -> Actor:
        return actor(request, account_id, bots=False)

    def conversation(conversation_id: int) -> Conversation:
        found = state.conversations.get(conversation_id)
        if found is None:
            raise _not_found()
        return found

    api = APIRouter(prefix="/api/v1/accounts/{account_id}")

    @api.post("/contacts")
    async def create_contact(body: dict[str, Any], _: Actor = Depends(users)) -> Any:
        email = (body.get("email") or None) and str(body["email"])
        phone = body.get("phone_number") or None
        with state.lock:
            if email and any((c.email or "").lower() == email.lower() for c in state.contacts.values()):
                raise _invalid("Email has already been taken", "email")
            if phone and not E164.match(str(phone)):
                raise _invalid("Phone number should be in e164 format", "phone_number")
            if phone and any(c.phone_number == phone for c in state.contacts.values()):
                raise _invalid("Phone number has already been taken", "phone_number")
            contact = state.add_contact(str(body.get("name") or "visitor"), email, phone)
            return {"payload": {"contact": state.contact_json(contact),
                                "contact_inbox": {"inbox": state.inbox, "source_id": None}}}

    @api.get("/contacts/search")
    async def search_contacts(q: str = "", page: int = 1, _: Actor = Depends(users)) -> Any:
        if not q:
            raise ApiError(422, {"error": "Specify search string with parameter q"})
        needle = q.lower()
        with state.lock:
            hits = [state.contact_json(c) for c in state.contacts.values()
                    if any(needle in (value or "").lower() for value in (c.name, c.email, c.phone_number))]
        rows = hits[(page - 1) * 15: page * 15]
        return {"meta": {"count": len(hits), "current_page": page, "has_more": len(hits) > page * 15},
                "payload": rows}

    @api.post("/contacts/filter")
    async def filter_contacts(body: dict[str, Any], page: int = 1, _: Actor = Depends(users)) -> Any:
        rules = body.get("payload")
        if not isinstance(rules, list) or not rules:
            raise ApiError(422, {"message": "Invalid filter payload"})
        with state.lock:
            hits = [state.contact_json(c) for c in state.contacts.values() if all(
                _rule_matches(getattr(c, str(rule.get("attribute_key")), None), rule) for rule in rules)]
        return {"meta": {"count": len(hits), "current_page": page},
                "payload": hits[(page - 1) * 15: page * 15]}

    @api.post("/conversations")
    async def create_conversation(body: dict[str, Any], _: Actor = Depends(anyone)) -> Any:
        if body.get("inbox_id") != state.inbox["id"] or body.get("contact_id") not in state.contacts:
            raise _not_found()
        status = str(body["status"]) if body.get("status") in STATUSES else "open"
        if state.inbox_has_bot:
            status = "pending"  # an inbox with an active bot forces pending (determine_conversation_status)
        created = state.add_conversation(int(body["contact_id"]), status=status,
                                         custom_attributes=body.get("custom_attributes") or {})
        with state.lock:
            return state.conversation_json(created)

    @api.get("/conversations/{conversation_id}")
    async def show_conversation(conversation_id: int, _: Actor = Depends(anyone)) -> Any:
        with state.lock:
            return state.conversation_json(conversation(conversation_id))

    @api.get("/conversations/{conversation_id}/messages")
    async def list_messages(conversation_id: int, before: int | None = None, after: int | None = None,
                            _: Actor = Depends(users)) -> Any:
        conversation(conversation_id)
        rows = state.snapshot_messages(conversation_id)
        if before is not None:
            rows = [m for m in rows if m.id < before]
        if after is not None:
            rows = [m for m in rows if m.id > after]
        if before is not None and after is not None:
            rows = rows[:1000]
        elif after is not None:
            rows = rows[:100]
        else:
            rows = rows[-20:]
        with state.lock:
            return {"meta": {"labels": state.conversations[conversation_id].labels, "contact": {},
                             "assignee": None, "agent_last_seen_at": None, "assignee_last_seen_at": None},
                    "payload": [state.message_json(m) for m in rows]}

    @api.post("/conversations/{conversation_id}/messages")
    async def create_message(conversation_id: int, body: dict[str, Any],
                             who: Actor = Depends(anyone)) -> Any:
        target = conversation(conversation_id)
        kind = body.get("message_type") or "outgoing"
        if kind not in ("outgoing", "incoming"):
            raise _invalid(f"'{kind}' is not a valid message_type", "message_type")
        if kind == "incoming" and state.channel != "Channel::Api":
            raise ApiError(422, {"error": "Incoming messages are only allowed in Api inboxes"})
        sender = state.contact_actor(target) if kind == "incoming" else who
        if kind == "outgoing" and body.get("sender_type") == "AgentBot":
            sender = state.bot
        attributes = body.get("content_attributes")
        message = state.add_message(conversation_id, str(body.get("content") or ""), kind=kind, sender=sender,
                                    private=bool(body.get("private")), source_id=body.get("source_id"),
                                    content_attributes=attributes if isinstance(attributes, dict) else None)
        with state.lock:
            rendered = state.message_json(message)
            emit(state.message_webhook(message))
        return {**rendered, "echo_id": body["echo_id"]} if body.get("echo_id") else rendered

    @api.post("/conversations/{conversation_id}/toggle_status")
    async def toggle_status(conversation_id: int, body: dict[str, Any], _: Actor = Depends(anyone)) -> Any:
        target = conversation(conversation_id)
        wanted = body.get("status")
        if wanted is not None and wanted not in STATUSES:
            raise _invalid(f"'{wanted}' is not a valid status", "status")
        if wanted is None:
            wanted = "resolved" if target.status == "open" else "open"
        change_status(state, target, str(wanted), emit, status_events)
        return {"meta": {}, "payload": {"success": True, "conversation_id": target.id,
                                        "current_status": target.status, "snoozed_until": None}}

    @api.post("/conversations/{conversation_id}/toggle_typing_status")
    async def toggle_typing(conversation_id: int, body: dict[str, Any], who: Actor = Depends(anyone)) -> Any:
        conversation(conversation_id)
        typing = body.get("typing_status")
        with state.lock:
            state.typing_log.append((conversation_id, str(typing), who.kind))
        return Response(status_code=200)

    @api.post("/conversations/{conversation_id}/custom_attributes")
    async def custom_attributes(conversation_id: int, body: dict[str, Any],
                                _: Actor = Depends(anyone)) -> Any:
        target = conversation(conversation_id)
        with state.lock:
            target.custom_attributes = dict(body.get("custom_attributes") or {})  # replaces, never merges
            return {"custom_attributes": target.custom_attributes}

    @api.get("/conversations/{conversation_id}/labels")
    async def get_labels(conversation_id: int, _: Actor = Depends(anyone)) -> Any:
        return {"payload": list(conversation(conversation_id).labels)}

    @api.post("/conversations/{conversation_id}/labels")
    async def set_labels(conversation_id: int, body: dict[str, Any], _: Actor = Depends(anyone)) -> Any:
        target = conversation(conversation_id)
        with state.lock:
            target.labels = sorted({str(label) for label in body.get("labels") or []})  # replaces
            return {"payload": list(target.labels)}

    app.include_router(api)
    return app


def change_status(state: FakeState, target: Conversation, wanted: str, emit: Emit,
                  events: tuple[str, ...]) -> None:
    """Set the status; on a change, send the status webhooks (`changed_attributes` null for
    conversation_status_changed, as Chatwoot sends it)."""
    with state.lock:
        previous, target.status = target.status, wanted
        if previous != wanted:
            target.updated_at = max(target.updated_at + 0.001, time.time())
            for event in events:
                emit(state.status_webhook(target, event, previous))


def _rule_matches(value: object, rule: dict[str, Any]) -> bool:
    wanted = [str(v).lower() for v in rule.get("values") or []]
    have = str(value).lower() if value is not None else ""
    operator = rule.get("filter_operator")
    if operator == "equal_to":
        return have in wanted
    if operator == "not_equal_to":
        return have not in wanted
    if operator == "contains":
        return any(w in have for w in wanted)
    if operator == "starts_with":
        return any(have.startswith(w) for w in wanted)
    return False
