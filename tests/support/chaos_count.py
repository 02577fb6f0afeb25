"""Counting after a chaos run: every customer message answered exactly once or handed off; no reply doubled.

Sources: the fake Chatwoot's stored messages (what a customer actually sees) and our database (the reply
ledger maps each customer message to the reply that covers it; a burst shares one reply; conversation owner).

- answered: the ledger row `message:<id>` is `sent` and its `sent_message_id` is one of our visible messages
  (outgoing, public, tagged `aibroker:…`) in that conversation, created after the customer message.
- handed off: not answered, and a human owns the conversation (our owner = human).
- lost: neither.
- duplicates: extra visible copies of one tag, plus visible tagged replies that no ledger row accounts for
  (a second reply to something already answered), plus untagged public bot messages.
- unrecorded: a visible reply carries the tag of a message whose ledger row is still `claimed` (the customer
  got the answer, but the system never settled it): counted as answered, and reported as a problem unless a
  human owns the conversation (the bot stands down there, leaving such rows as they are).
- apologies without handoff: a final failure's apology went out but the conversation stayed with the bot.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tests.fakes.fake_chatwoot import FakeChatwoot
from tests.fakes.fake_chatwoot_state import Message

OUTGOING = 1
TAG = "aibroker:"


class Queryable(Protocol):
    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]: ...


@dataclass
class ChaosReport:
    customer_messages: int = 0
    conversations: int = 0
    answered: int = 0
    handed_off: int = 0
    lost: int = 0
    duplicates: int = 0  # duplicate_tags + unaccounted_replies + untagged_bot_messages
    duplicate_tags: int = 0
    unaccounted_replies: int = 0
    untagged_bot_messages: int = 0
    replies: int = 0  # distinct visible replies to customer messages (a burst shares one)
    greetings: int = 0
    missing_greetings: int = 0
    handoffs: int = 0  # conversations a human owns at the end
    handoff_reasons: dict[str, int] = field(default_factory=dict)
    handoffs_not_mirrored: int = 0  # a human owns it in our database, but Chatwoot does not show it `open`
    replies_before_message: int = 0
    unrecorded: int = 0
    apologies_without_handoff: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    settled: bool = False
    lost_examples: list[dict[str, Any]] = field(default_factory=list)
    duplicate_examples: list[dict[str, Any]] = field(default_factory=list)
    chaos: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    database: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def problems(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{self.lost} customer message(s) lost, e.g. {self.lost_examples[:5]}")
        if self.duplicates:
            found.append(f"{self.duplicates} duplicate reply(ies), e.g. {self.duplicate_examples[:5]}")
        if self.missing_greetings:
            found.append(f"{self.missing_greetings} bot-owned conversation(s) never greeted")
        if self.replies_before_message:
            found.append(f"{self.replies_before_message} message(s) 'answered' by a reply created before them")
        if self.unrecorded:
            found.append(f"{self.unrecorded} answered message(s) whose reply the ledger never recorded")
        if self.apologies_without_handoff:
            found.append(f"{self.apologies_without_handoff} apology(ies) for a failure without the promised handoff")
        if self.handoffs_not_mirrored:
            found.append(f"{self.handoffs_not_mirrored} handoff(s) not visible in Chatwoot (status not open)")
        if self.answered + self.handed_off + self.lost != self.customer_messages:
            found.append("counts do not add up")
        return found

    def summary(self) -> str:
        latency = self.latency_ms
        return (f"{self.customer_messages} customer messages in {self.conversations} conversations: "
                f"{self.answered} answered ({self.replies} replies), {self.handed_off} handed off, {self.lost} lost, "
                f"{self.duplicates} duplicates; {self.greetings} greetings ({self.missing_greetings} missing); "
                f"{self.handoffs} handoffs {self.handoff_reasons}; latency p50 {latency.get('p50')} ms, "
                f"p95 {latency.get('p95')} ms, max {latency.get('max')} ms; chaos {self.chaos}; logs {self.logs}; "
                f"phases {self.phases}; settled {self.settled}")


def _state(database: Queryable) -> tuple[dict[int, dict[str, Any]], dict[tuple[int, str], dict[str, Any]]]:
    conversations = {int(r["inbox_conversation_id"]): r for r in database.query(
        "SELECT id, inbox_conversation_id, owner, status FROM conversations")}
    ledger = {(int(r["conversation_id"]), str(r["key"])): r for r in database.query(
        "SELECT conversation_id, key, state, sent_message_id, reply_key, note FROM reply_ledger")}
    return conversations, ledger


def unsettled(database: Queryable, sent: list[tuple[int, int]]) -> int:
    """Customer messages and greetings still waiting for their outcome (0 = everything settled)."""
    conversations, ledger = _state(database)
    left = 0
    for inbox_conversation, message_id in sent:
        conversation = conversations[inbox_conversation]
        if conversation["owner"] == "human":
            continue
        row = ledger.get((int(conversation["id"]), f"message:{message_id}"))
        left += row is None or row["state"] == "claimed"
    for conversation in conversations.values():
        if conversation["owner"] != "human":
            row = ledger.get((int(conversation["id"]), "greeting"))
            left += row is None or row["state"] == "claimed"
    return left


def _tagged(visible: dict[int, Message], conversation_id: int, key: str) -> Message | None:
    tag = f"{TAG}aibroker:{conversation_id}:{key}"
    return next((m for m in visible.values() if m.source_id == tag), None)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))], 1)


def count(chatwoot: FakeChatwoot, database: Queryable, sent: list[tuple[int, int]], *,
          settled: bool) -> ChaosReport:
    conversations, ledger = _state(database)
    report = ChaosReport(customer_messages=len(sent), conversations=len(conversations), settled=settled)
    reasons = {int(r["conversation_id"]): r["handoff_reason"] for r in database.query(
        "SELECT conversation_id, handoff_reason FROM broker_conversations WHERE handoff_reason IS NOT NULL")}
    visible: dict[int, dict[int, Message]] = {}  # inbox conversation → our visible messages by id
    handoff_reasons: Counter[str] = Counter()
    for inbox_id, conversation in conversations.items():
        ours_id = int(conversation["id"])
        messages = chatwoot.messages(inbox_id)
        public_out = [m for m in messages if m.message_type == OUTGOING and not m.private]
        ours = [m for m in public_out if (m.source_id or "").startswith(TAG)]
        visible[inbox_id] = {m.id: m for m in ours}
        report.untagged_bot_messages += sum(1 for m in public_out if m not in ours and m.sender is not None
                                            and m.sender.kind == "AgentBot")
        copies_of = Counter(m.source_id for m in ours)
        for tag, copies in copies_of.items():
            if copies > 1:
                report.duplicate_tags += copies - 1
                report.duplicate_examples.append({"conversation": inbox_id, "tag": tag, "copies": copies})
        rows = {key: row for (c, key), row in ledger.items() if c == ours_id}
        accounted = {str(row["sent_message_id"]) for row in rows.values()
                     if row["state"] == "sent" and row["sent_message_id"]}
        unsettled_tags = {f"{TAG}aibroker:{ours_id}:{key}" for key, row in rows.items() if row["state"] == "claimed"}
        report.apologies_without_handoff += sum(1 for row in rows.values() if row["note"] == "job_failed"
                                                and conversation["owner"] != "human")
        for message in ours:  # (extra copies of one tag are counted above, not again here)
            if str(message.id) not in accounted and copies_of[message.source_id] == 1 \
                    and message.source_id not in unsettled_tags:
                report.unaccounted_replies += 1
                report.duplicate_examples.append({"conversation": inbox_id, "unaccounted": message.id,
                                                  "tag": message.source_id, "content": message.content[:60]})
        greeting = ledger.get((ours_id, "greeting"))
        if greeting is not None and greeting["state"] == "sent" and \
                int(greeting["sent_message_id"] or 0) in visible[inbox_id]:
            report.greetings += 1
        elif conversation["owner"] != "human":
            report.missing_greetings += 1
        if conversation["owner"] == "human":
            report.handoffs += 1
            handoff_reasons[str(reasons.get(ours_id) or "unknown")] += 1
            if chatwoot.conversation(inbox_id).status != "open":
                report.handoffs_not_mirrored += 1

    customer = {m.id: m for inbox_id in conversations for m in chatwoot.messages(inbox_id) if m.message_type == 0}
    latencies: list[float] = []
    replies: set[int] = set()
    for inbox_id, message_id in sent:
        conversation = conversations[inbox_id]
        row = ledger.get((int(conversation["id"]), f"message:{message_id}"))
        reply = visible[inbox_id].get(int(row["sent_message_id"] or 0)) \
            if row is not None and row["state"] == "sent" else None
        if reply is None and row is not None and row["state"] == "claimed":
            reply = _tagged(visible[inbox_id], int(conversation["id"]), row["reply_key"] or f"message:{message_id}")
            # Human-owned conversations are left alone (their jobs stand down), so a loose end there is expected.
            report.unrecorded += reply is not None and conversation["owner"] != "human"
        if reply is not None:
            report.answered += 1
            replies.add(reply.id)
            latencies.append((reply.created_at - customer[message_id].created_at) * 1000)
            report.replies_before_message += reply.id < message_id
        elif conversation["owner"] == "human":
            report.handed_off += 1
        else:
            report.lost += 1
            report.lost_examples.append({"conversation": inbox_id, "message": message_id,
                                         "ledger": None if row is None else {k: row[k] for k in (
                                             "state", "sent_message_id", "reply_key", "note")}})
    report.replies = len(replies)
    report.duplicates = report.duplicate_tags + report.unaccounted_replies + report.untagged_bot_messages
    report.handoff_reasons = dict(handoff_reasons)
    if latencies:
        report.latency_ms = {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95),
                             "max": round(max(latencies), 1)}
    return report
