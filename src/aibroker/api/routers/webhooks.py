"""Chatwoot webhook: verify, classify, deduplicate, enqueue. Answers in milliseconds (never generates)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aibroker.adapters.inbox.chatwoot_messages import untag
from aibroker.adapters.inbox.chatwoot_webhook import Outcome, Reason, WebhookDecision, classify, verify_signature
from aibroker.api.deps import container_of
from aibroker.api.errors import error_responses
from aibroker.errors import Unauthorized
from aibroker.logging import get_logger
from aibroker.usecases.inbound import InboundEvent

router = APIRouter(tags=["webhooks"])
log = get_logger(__name__)

_KINDS = {Outcome.CUSTOMER_MESSAGE: "customer_message", Outcome.HUMAN_REPLY: "human_reply",
          Outcome.STATUS_CHANGED: "status_changed", Outcome.IGNORED: "ignored"}


# The body is read raw (the signature covers its exact bytes), so the document states its shape by hand.
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "a Chatwoot webhook delivery (event, message or conversation fields)"}}}}}


@router.post("/api/webhooks/chatwoot", responses=error_responses(400, 401, 413, 503), openapi_extra=_BODY)
@router.post("/api/chatwoot-webhook", include_in_schema=False)
async def chatwoot_webhook(request: Request) -> JSONResponse:
    container = container_of(request)
    settings = container.settings
    raw = await request.body()
    if settings.chatwoot_webhook_secret is not None:
        verify_signature(raw, request.headers, settings.chatwoot_webhook_secret.get_secret_value(), time.time())
    elif not settings.chatwoot_allow_unsigned:
        raise Unauthorized("webhook signatures are required: set CHATWOOT_WEBHOOK_SECRET "
                           "(or CHATWOOT_ALLOW_UNSIGNED=true for Chatwoot servers that cannot sign)")
    try:
        payload: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return JSONResponse({"error": f"malformed JSON: {error}"}, status_code=400)
    except RecursionError:  # nested thousands deep: Python's parser recurses past its limit
        return JSONResponse({"error": "malformed JSON: nested too deeply"}, status_code=400)
    if not isinstance(payload, dict):  # Chatwoot always sends an object; anything else is not a delivery
        return JSONResponse({"error": "malformed webhook: the body must be a JSON object"}, status_code=400)
    decision = classify(payload)
    outcome = await container.inbound.handle(InboundEvent(
        kind=_kind(decision), event=decision.event or "unknown",
        inbox_conversation_id=decision.conversation_id, message_id=decision.message_id,
        dedupe_key=decision.dedupe_key, status=decision.status, reason=decision.reason,
        content=decision.content, created_at=decision.created_at, source_id=untag(decision.source_id),
        raw=payload if isinstance(payload, dict) else None))
    return JSONResponse({"status": outcome})


def _kind(decision: WebhookDecision) -> str:
    """Echoes of our public replies are kept (history for bot tokens); other ignored events are not."""
    if decision.reason == Reason.ECHO and not decision.private and untag(decision.source_id):
        return "our_echo"
    return _KINDS[decision.outcome]
