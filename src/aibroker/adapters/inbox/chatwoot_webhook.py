"""Incoming Chatwoot webhooks: signature check and what each delivery means for us. Pure: no I/O.

Signature (CHATWOOT.md §4.2, Chatwoot ≥ 4.12 account webhooks, ≥ 4.13 API-inbox and agent-bot webhooks):
`X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Chatwoot-Timestamp>.<raw body>")>`.

Decisions (CHATWOOT.md §3.1, §8): act only on `message_created` + incoming + public; a public outgoing message
from a human (`sender.type == "user"`, not our tag) means a human took over; status events carry the new
status. Everything else is `ignored` with a machine-readable `reason`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Container, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aibroker.adapters.inbox.chatwoot_messages import (
    MessageKind,
    is_our_tag,
    message_kind,
    parse_created_at,
    sender_kind,
)
from aibroker.domain.conversation import ConversationStatus
from aibroker.domain.storable import storable_text
from aibroker.errors import Unauthorized

SIGNATURE_HEADER = "x-chatwoot-signature"
TIMESTAMP_HEADER = "x-chatwoot-timestamp"
DELIVERY_HEADER = "x-chatwoot-delivery"
STATUS_EVENTS = frozenset({"conversation_status_changed", "conversation_opened", "conversation_resolved"})


class SignatureError(Unauthorized):
    """The webhook's signature is missing, forged or stale."""


def verify_signature(raw_body: bytes, headers: Mapping[str, str], secret: str, now: float,
                     max_age_s: float = 300) -> None:
    """Raise `SignatureError` unless the body was signed with `secret` within `max_age_s` of `now`.

    Timestamps too far in the future are rejected as well (clock skew beyond `max_age_s`).
    """
    if not secret:
        raise ValueError("no webhook secret configured")
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = (lowered.get(SIGNATURE_HEADER) or "").strip()
    timestamp = (lowered.get(TIMESTAMP_HEADER) or "").strip()
    if not signature or not timestamp:
        raise SignatureError("webhook signature or timestamp header missing")
    # ASCII digits, at most 12 (unix seconds until the year 33658): `int()` refuses more than 4300 digits and
    # `isdigit()` alone accepts "²", so a forged header would otherwise crash before the signature is checked.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("webhook timestamp is not unix seconds")
    if abs(now - int(timestamp)) > max_age_s:
        raise SignatureError("webhook timestamp is stale")
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(("sha256=" + digest).encode(), signature.lower().encode()):
        raise SignatureError("webhook signature does not match")


class Outcome(StrEnum):
    CUSTOMER_MESSAGE = "customer_message"
    HUMAN_REPLY = "human_reply"
    STATUS_CHANGED = "status_changed"
    IGNORED = "ignored"


class Reason:
    """Why a delivery was ignored; `malformed: <what>` is built with `Reason.malformed`."""

    ECHO = "echo_of_our_message"
    PRIVATE_NOTE = "private_note"
    ACTIVITY = "activity"
    TEMPLATE = "template"
    MESSAGE_UPDATED = "message_updated"
    UNSUPPORTED_EVENT = "unsupported_event"
    BOT_SENDER = "bot_sender"  # another bot (e.g. Captain) or an automation without a sender
    NO_STATUS_CHANGE = "no_status_change"  # conversation_updated that did not change the status

    @staticmethod
    def malformed(what: str) -> str:
        return f"malformed: {what}"


class Sender(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str | None = None
    type: str | None = None  # contact, user, agent_bot, captain_assistant
    name: str | None = Field(default=None, repr=False)
    email: str | None = Field(default=None, repr=False)
    phone: str | None = Field(default=None, repr=False)


class WebhookDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    event: str | None = None
    reason: str | None = None  # set when ignored
    dedupe_key: str | None = None  # (event, message id) for messages; event + conversation + status + time
    conversation_id: str | None = None
    message_id: str | None = None
    content: str | None = Field(default=None, repr=False)
    sender: Sender | None = None
    attachments: int = 0
    created_at: datetime | None = None
    status: ConversationStatus | None = None  # the conversation's status (the new one for status_changed)
    assignee_type: str | None = None  # "User" / "AgentBot" / None, from conversation.meta
    source_id: str | None = None
    private: bool = False

    @property
    def ignored(self) -> bool:
        return self.outcome is Outcome.IGNORED


def _ignored(reason: str, event: str | None = None, **fields: Any) -> WebhookDecision:
    return WebhookDecision(outcome=Outcome.IGNORED, event=event, reason=reason, **fields)


def _id(value: object) -> str | None:
    """Chatwoot's ids are integers: up to 18 ASCII digits (fits the id columns; a 5,000-digit "id" does not)."""
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, int | str) else ""
    return text if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _status(value: object) -> ConversationStatus | None:
    try:
        return ConversationStatus(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _content(value: object) -> str | None:
    return storable_text(value) if isinstance(value, str) else None


def _version(value: object) -> str:
    """A status event's version for its dedupe key, short enough for the receipts column whatever was sent."""
    text = str(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else ""
    return text if len(text) <= 40 and text.isprintable() else hashlib.sha256(repr(value).encode()).hexdigest()[:40]


def _sender(raw: object, who: str | None) -> Sender | None:
    if who is None:
        return None
    fields = raw if isinstance(raw, Mapping) else {}
    return Sender(id=_id(fields.get("id")), type=who, name=_text(fields.get("name")),
                  email=_text(fields.get("email")), phone=_text(fields.get("phone_number")))


def _assignee_type(conversation: Mapping[str, Any]) -> str | None:
    meta = conversation.get("meta")
    return _text(meta.get("assignee_type")) if isinstance(meta, Mapping) else None


def classify(payload: Any, *, own_message_ids: Container[str] = frozenset()) -> WebhookDecision:
    """What a webhook delivery means. `own_message_ids`: ids of messages we posted (when the inbox's
    channel overwrote our `source_id` tag, the id we recorded still identifies the echo)."""
    if not isinstance(payload, Mapping):
        return _ignored(Reason.malformed("body is not a JSON object"))
    event = payload.get("event")
    if not isinstance(event, str) or not event:
        return _ignored(Reason.malformed("no event"))
    if event == "message_updated":
        return _ignored(Reason.MESSAGE_UPDATED, event, message_id=_id(payload.get("id")))
    if event == "message_created":
        return _classify_message(payload, own_message_ids)
    if event in STATUS_EVENTS or event == "conversation_updated":
        return _classify_status(event, payload)
    return _ignored(Reason.UNSUPPORTED_EVENT, event)


def _classify_message(payload: Mapping[str, Any], own_message_ids: Container[str]) -> WebhookDecision:
    event = "message_created"
    message_id = _id(payload.get("id"))
    if message_id is None:
        return _ignored(Reason.malformed("message id"), event)
    conversation = payload.get("conversation")
    conversation_id = _id(conversation.get("id")) if isinstance(conversation, Mapping) else None
    if not isinstance(conversation, Mapping) or conversation_id is None:
        return _ignored(Reason.malformed("conversation"), event, message_id=message_id)
    kind = message_kind(payload.get("message_type"))
    if kind is None:
        return _ignored(Reason.malformed("message_type"), event, message_id=message_id)
    source_id = _text(payload.get("source_id"))
    if source_id is not None and len(source_id) > 128:  # longer than any id we tag messages with
        source_id = None
    who = sender_kind(payload)
    attachments = payload.get("attachments")
    common: dict[str, Any] = {
        "event": event, "message_id": message_id, "conversation_id": conversation_id,
        "dedupe_key": f"{event}:{message_id}", "source_id": source_id,
        "status": _status(conversation.get("status")), "assignee_type": _assignee_type(conversation),
        "created_at": parse_created_at(payload.get("created_at")),
        "attachments": len(attachments) if isinstance(attachments, list) else 0,
        "sender": _sender(payload.get("sender"), who),
    }
    if is_our_tag(source_id) or message_id in own_message_ids or (
            kind is MessageKind.OUTGOING and who == "agent_bot"):
        # Content kept: bot-token deployments record our own echoes in the history store, so a reply whose
        # POST answer was lost is still found there before a retry sends it again.
        return _ignored(Reason.ECHO, content=_content(payload.get("content")),
                        private=payload.get("private") in (True, "true"), **common)
    if kind is MessageKind.ACTIVITY:
        return _ignored(Reason.ACTIVITY, **common)
    if kind is MessageKind.TEMPLATE:
        return _ignored(Reason.TEMPLATE, **common)
    if payload.get("private") is True or payload.get("private") == "true":
        return _ignored(Reason.PRIVATE_NOTE, **common)
    text = _content(payload.get("content")) or ""
    if kind is MessageKind.INCOMING:
        return WebhookDecision(outcome=Outcome.CUSTOMER_MESSAGE, content=text, **common)
    if who == "user":
        return WebhookDecision(outcome=Outcome.HUMAN_REPLY, content=text, **common)
    return _ignored(Reason.BOT_SENDER, **common)  # Captain, another bot, or an automation (no sender)


def _classify_status(event: str, payload: Mapping[str, Any]) -> WebhookDecision:
    conversation_id = _id(payload.get("id"))
    if conversation_id is None:
        return _ignored(Reason.malformed("conversation id"), event)
    status = _status(payload.get("status"))
    if status is None:
        return _ignored(Reason.malformed("status"), event, conversation_id=conversation_id)
    if event == "conversation_updated":
        changes = payload.get("changed_attributes")
        changed = isinstance(changes, list) and any(isinstance(item, Mapping) and "status" in item
                                                    for item in changes)
        if not changed:
            return _ignored(Reason.NO_STATUS_CHANGE, event, conversation_id=conversation_id, status=status)
    version = _version(payload.get("updated_at") or payload.get("timestamp") or "")
    return WebhookDecision(outcome=Outcome.STATUS_CHANGED, event=event, conversation_id=conversation_id,
                           status=status, assignee_type=_assignee_type(payload),
                           dedupe_key=f"{event}:{conversation_id}:{status.value}:{version}")
