"""Chatwoot message vocabulary shared by the REST adapter and the webhook classifier. Pure: no I/O.

How our own messages are recognised (CHATWOOT.md §2.2, §3, §3.1): every message we post carries a
`source_id` starting with `aibroker:` (replies: `aibroker:<caller's source id>`; private notes used as
activity lines: `aibroker-note:<random>`). Chatwoot stores `source_id` verbatim and echoes it in REST
responses and webhook payloads on API and website inboxes. Where a channel overwrites it (WhatsApp, e-mail)
or an old server drops it, the sender type (`agent_bot` when we post with a bot token) and the message ids we
recorded still identify the echo.

`message_type` is an integer (0 incoming, 1 outgoing, 2 activity, 3 template) in REST responses and in
the `messages` list nested in webhook conversations, and a string at the top level of message webhooks;
`message_kind` accepts both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aibroker.domain.conversation import ChatMessage, Role, as_utc
from aibroker.errors import PermanentInboxError

TAG_PREFIX = "aibroker:"
NOTE_PREFIX = "aibroker-note:"
BOT_SENDERS = frozenset({"agent_bot", "captain_assistant"})


class MessageKind(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    ACTIVITY = "activity"
    TEMPLATE = "template"


_KIND_BY_NUMBER = {0: MessageKind.INCOMING, 1: MessageKind.OUTGOING, 2: MessageKind.ACTIVITY,
                   3: MessageKind.TEMPLATE}


def message_kind(value: object) -> MessageKind | None:
    """Chatwoot's `message_type` as int (REST) or string (webhooks); None when unrecognisable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _KIND_BY_NUMBER.get(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return _KIND_BY_NUMBER.get(int(text))
        try:
            return MessageKind(text)
        except ValueError:
            return None
    return None


def _snake(name: str) -> str:
    name = name.replace("::", "")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def sender_kind(message: Mapping[str, Any]) -> str | None:
    """`contact`, `user`, `agent_bot`, `captain_assistant`, … or None when the message has no sender.

    Webhook senders carry `type` except contacts (no `type` key at all); push data also has `sender_type`
    (`Contact`, `User`, `AgentBot`, `Captain::Assistant`).
    """
    sender = message.get("sender")
    if isinstance(sender, Mapping) and isinstance(sender.get("type"), str) and sender["type"]:
        return _snake(sender["type"])
    sender_type = message.get("sender_type")
    if isinstance(sender_type, str) and sender_type:
        return _snake(sender_type)
    if isinstance(sender, Mapping) and sender:
        return "contact"
    return None


def our_tag(source_id: str) -> str:
    """The `source_id` we store in Chatwoot for a message the caller tagged `source_id`."""
    return TAG_PREFIX + source_id


def is_our_tag(value: object) -> bool:
    return isinstance(value, str) and value.startswith((TAG_PREFIX, NOTE_PREFIX))


def untag(value: object) -> str | None:
    """The caller's source id back from a stored tag; None for untagged messages and our notes."""
    if isinstance(value, str) and value.startswith(TAG_PREFIX):
        return value[len(TAG_PREFIX):]
    return None


def parse_created_at(value: object) -> datetime | None:
    """Epoch seconds (REST, nested push data) or ISO-8601 (message webhooks)."""
    if isinstance(value, bool):
        return None
    # Out-of-range numbers (1e300, NaN, 10**400) raise ValueError, OverflowError or OSError: not a time, so None.
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (ValueError, OverflowError, OSError):
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return as_utc(moment)
    return None


def role_of(message: Mapping[str, Any]) -> Role:
    kind = message_kind(message.get("message_type"))
    if kind is MessageKind.INCOMING:
        return Role.CUSTOMER
    if kind is not MessageKind.OUTGOING:
        return Role.SYSTEM
    tag = message.get("source_id")
    if isinstance(tag, str) and tag.startswith(NOTE_PREFIX):
        return Role.SYSTEM
    if is_our_tag(tag) or sender_kind(message) in BOT_SENDERS:
        return Role.BOT
    return Role.HUMAN if sender_kind(message) == "user" else Role.SYSTEM


def to_chat_message(message: Mapping[str, Any]) -> ChatMessage:
    """A REST (or webhook) message object as our `ChatMessage`; raises KeyError without an `id`."""
    return ChatMessage(id=str(message["id"]), role=role_of(message),
                       content=str(message.get("content") or ""),
                       created_at=parse_created_at(message.get("created_at")) or datetime.now(UTC),
                       private=bool(message.get("private")), source_id=untag(message.get("source_id")))


# --- REST payload helpers ------------------------------------------------------------------------------

E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def e164(phone: str | None) -> str | None:
    """Chatwoot only accepts E.164 phone numbers (422 otherwise); anything else is left out."""
    if not phone:
        return None
    compact = re.sub(r"[\s\-().]", "", phone)
    return compact if E164.match(compact) else None


def payload_list(data: Any) -> list[dict[str, Any]]:
    """The `payload` list of a Chatwoot list response, keeping only objects with an id."""
    rows = data.get("payload") if isinstance(data, dict) else None
    return [row for row in rows if isinstance(row, dict) and "id" in row] if isinstance(rows, list) else []


def contact_id_of(data: Any) -> str:
    payload = data.get("payload", data) if isinstance(data, dict) else None
    contact = payload.get("contact", payload) if isinstance(payload, dict) else None
    if not isinstance(contact, dict) or "id" not in contact:
        raise PermanentInboxError("contact create: unexpected response shape")
    return str(contact["id"])
