"""The n8n migration's rules, pure: which path serves a conversation, and what start-up must refuse.

A conversation is routed once, when it is opened (lead form) or adopted (first inbox message), and the
route is recorded on it: raising or lowering the percentage moves only new conversations. The hash is of the
conversation's inbox identity, so every API and worker process computes the same bucket without talking to
each other. Only the kill switch (`enable_bullmq_broker=False`) overrides a recorded route, and it sends
everything, old and new, to the legacy workflow at once.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Route(StrEnum):
    AIBROKER = "aibroker"
    LEGACY = "legacy"


class Switches(BaseModel):
    """The four rollout switches, each with one meaning (README, docs/rollout.md)."""

    model_config = ConfigDict(frozen=True)

    enable_ai_broker: bool = True  # False: the bot sends nothing at all; humans answer
    enable_bullmq_broker: bool = True  # False: every conversation goes to the legacy workflow (rollback)
    rollout_percentage: int = Field(default=100, ge=0, le=100)  # share of NEW conversations for aibroker
    shadow_mode: bool = False  # legacy conversations also answered by aibroker, never sent


def bucket(inbox: str, inbox_conversation_id: str) -> int:
    """0–99, stable across processes and releases (sha256, not Python's salted `hash`)."""
    digest = hashlib.sha256(f"{inbox}:{inbox_conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def route_new(switches: Switches, inbox: str, inbox_conversation_id: str) -> Route:
    """The route recorded on a conversation when it is opened or adopted."""
    if not switches.enable_bullmq_broker:
        return Route.LEGACY
    return Route.AIBROKER if bucket(inbox, inbox_conversation_id) < switches.rollout_percentage else Route.LEGACY


def effective_route(switches: Switches, recorded: str | None) -> Route:
    """Who serves a conversation now. Conversations from before routing existed (None) were aibroker's."""
    if not switches.enable_bullmq_broker:
        return Route.LEGACY
    return Route.LEGACY if recorded == Route.LEGACY.value else Route.AIBROKER


def needs_legacy(switches: Switches) -> bool:
    """Whether some new or existing conversation may be sent to the legacy workflow."""
    return not switches.enable_bullmq_broker or switches.rollout_percentage < 100


def legacy_url_problem(switches: Switches, n8n_url: str | None) -> str | None:
    """Why these switches cannot run without the legacy workflow's URL (None when they can)."""
    if n8n_url or not needs_legacy(switches):
        return None
    why = ("ENABLE_BULLMQ_BROKER=false" if not switches.enable_bullmq_broker
           else f"BULLMQ_ROLLOUT_PERCENTAGE={switches.rollout_percentage}")
    return (f"{why} sends conversations to the legacy n8n workflow, but N8N_AI_BROKER_WEBHOOK_URL is not set: "
            "set N8N_AI_BROKER_WEBHOOK_URL, or ENABLE_BULLMQ_BROKER=true with BULLMQ_ROLLOUT_PERCENTAGE=100")


def legacy_body(inbox_conversation_id: str, message_id: str, content: str | None,
                sender: object, conversation: object) -> dict[str, object]:
    """The body the n8n workflow already receives from Chatwoot's webhook, plus `message_id` (its dedupe key)."""
    return {"conversation_id": int(inbox_conversation_id) if inbox_conversation_id.isdigit()
            else inbox_conversation_id, "message": content or "", "sender": sender if sender is not None else {},
            "conversation": conversation if conversation is not None else {"id": inbox_conversation_id},
            "message_id": message_id}
