"""Reply-ledger vocabulary: the states a claim on "answer this message" can be found in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"        # first attempt: generate and send
    RECLAIMED = "reclaimed"    # an earlier attempt died after claiming: check the inbox before sending again
    DONE = "done"              # already answered (or deliberately skipped): send nothing


@dataclass(frozen=True, slots=True)
class LedgerClaim:
    outcome: ClaimOutcome
    token: str
    attempts: int


def greeting_key() -> str:
    return "greeting"


def message_key(inbox_message_id: str) -> str:
    return f"message:{inbox_message_id}"


def source_tag(conversation_id: int, key: str) -> str:
    """The tag our outgoing message carries: deterministic, so a resend after a crash is recognisable."""
    return f"aibroker:{conversation_id}:{key}"
