"""What the live UIs see: our internal event types mapped, in this one place, to the five server-sent event names.

Internal events (published through `EventPublisher`) name what happened in the pipeline; a UI needs less:

    message   {id, role, content, created_at, quick_replies?}   message:customer, message:ai, message:human
    typing    {who, on}                                         typing
    read      {up_to}                                           message:user (a reply to it has started)
    status    {owner, status, broker?, reason?, waiting?}       conversation:created, broker:*, handoff, ...
    sla       {level, message_id, waited_ms, target_ms}         sla

A `message:*` event carries the message itself (id, role, content, created_at) so that a stream replayed from
Redis shows the same text as it did live; anything else published (e.g. `quick_reply:clicked`) is analytics only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MESSAGE_TYPES = {"message:customer": "customer", "message:ai": "bot", "message:human": "human"}
# (owner, status) a UI should show after each ownership event; None keeps what it showed.
_STATUS: dict[str, tuple[str | None, str]] = {
    "conversation:created": ("bot", "pending"), "broker:waiting": ("bot", "pending"),
    "broker:joined": ("bot", "pending"), "handoff": ("human", "open"), "owner:human": ("human", "open"),
    "handback": ("bot", "pending"), "conversation:resolved": (None, "resolved"),
}
# Live-only: not worth a database row each (the analytics mirror skips them).
EPHEMERAL_TYPES = frozenset({"typing"})
# What the analytics mirror never keeps: the words themselves stay in the inbox (and erasure deletes them there).
LIVE_ONLY_FIELDS = ("content",)
SLA_WARNING_SHARE = 0.8  # of the reply SLA: a warning at 4 s of the 5 s target


@dataclass(frozen=True, slots=True)
class MirrorRow:
    """An event as the analytics mirror keeps it (`mirrored`), with the moment it happened."""
    conversation_id: int
    type: str
    payload: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class LiveEvent:
    name: str  # message | typing | read | status | sla
    data: dict[str, Any]


def broker_typing(on: bool) -> tuple[str, dict[str, Any]]:
    """The internal event of the broker's typing indicator going on or off."""
    return "typing", {"who": "broker", "on": on}


def to_live(body: Mapping[str, Any]) -> LiveEvent | None:
    """The UI event for one internal event body (`type`, `conversation_id`, payload fields), or None."""
    kind = str(body.get("type", ""))
    common = {"conversation_id": body.get("conversation_id")}
    if kind in MESSAGE_TYPES:
        data = {"id": str(body.get("message_id", "")), "role": body.get("role") or MESSAGE_TYPES[kind],
                "content": body.get("content"), "created_at": body.get("created_at")}
        if body.get("quick_replies"):
            data["quick_replies"] = list(body["quick_replies"])
        return LiveEvent("message", {**common, **data})
    if kind == "typing":
        return LiveEvent("typing", {**common, "who": body.get("who"), "on": bool(body.get("on"))})
    if kind == "message:user":
        return LiveEvent("read", {**common, "up_to": str(body.get("message_id", ""))})
    if kind in _STATUS:
        owner, status = _STATUS[kind]
        data = {"owner": owner, "status": status}
        for name in ("broker", "reason"):
            if body.get(name):
                data[name] = body[name]
        if kind == "broker:waiting":
            data["waiting"] = True
        return LiveEvent("status", {**common, **data})
    if kind == "sla":
        return LiveEvent("sla", {**common, **{k: body.get(k) for k in ("level", "message_id", "waited_ms",
                                                                          "target_ms")}})
    return None


def sla_level(waited_ms: float, target_ms: int) -> str | None:
    """`violation` once a customer message has waited the whole reply target, `warning` from 80 % of it."""
    if waited_ms >= target_ms:
        return "violation"
    if waited_ms >= target_ms * SLA_WARNING_SHARE:
        return "warning"
    return None


def mirrored(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The payload as the analytics mirror keeps it, or None for live-only events."""
    if event_type in EPHEMERAL_TYPES:
        return None
    return {k: v for k, v in payload.items() if k not in LIVE_ONLY_FIELDS}
