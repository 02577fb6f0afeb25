"""The interfaces the use cases need from the outside world. Adapters implement them; tests pass real ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aibroker.domain.brokers import AssignmentFacts
from aibroker.domain.console import AgentRecord, ConversationFacts
from aibroker.domain.conversation import (
    BrokerRecord,
    ChatMessage,
    ContactInfo,
    ConversationRecord,
    ConversationStatus,
    HistoryCopy,
    JobConversation,
    Owner,
)
from aibroker.domain.customer_facts import CustomerFacts
from aibroker.domain.erasure import ErasureCounts, ErasureTarget
from aibroker.domain.jobs import Job
from aibroker.domain.leads import LeadForm
from aibroker.domain.ledger import LedgerClaim
from aibroker.domain.live_events import MirrorRow
from aibroker.domain.memory import episode_of, fold_customer_facts
from aibroker.domain.personas import Persona


class Inbox(Protocol):
    """Where conversations live and customers see replies: Chatwoot, or the built-in inbox.

    All ids are the inbox's own, as strings. Implementations raise `TransientInboxError` for failures
    worth retrying and `PermanentInboxError` for the rest.
    """

    name: str

    async def find_or_create_contact(self, contact: ContactInfo) -> str: ...

    async def create_conversation(self, contact_id: str, attributes: Mapping[str, Any]) -> str: ...

    async def post_customer_message(self, conversation_id: str, content: str, *,
                                    client_message_id: str | None = None) -> ChatMessage:
        """A message written by the customer in our own chat UI. The same `client_message_id` twice
        (a retry after a 503) is one message where the inbox can tell."""
        ...

    async def send_message(self, conversation_id: str, content: str, *, source_id: str, private: bool = False,
                           guard: SendGuard | None = None) -> ChatMessage:
        """Post an outgoing message tagged with `source_id` so its echo and retries are recognisable. An earlier
        attempt's message with that tag is returned instead of posting again; `guard` is awaited right before
        every attempt to post (the first and each retry) and raises to stop it."""
        ...

    async def post_activity(self, conversation_id: str, content: str, *, internal: bool = False) -> None:
        """A status line ("Michelle Chen joined"). `internal` ones (handoff reasons) are for agents only."""
        ...

    async def set_typing(self, conversation_id: str, on: bool) -> None: ...

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> None: ...

    async def merge_attributes(self, conversation_id: str, attributes: Mapping[str, Any]) -> None: ...

    async def add_labels(self, conversation_id: str, labels: list[str]) -> None: ...

    async def list_messages(self, conversation_id: str, *, before: str | None = None,
                            limit: int = 100) -> list[ChatMessage]:
        """Messages oldest first; `before` pages back from an inbox message id."""
        ...

    async def find_sent_message(self, conversation_id: str, source_id: str) -> ChatMessage | None:
        """Our message with this tag, if the inbox already has it (crash between send and record)."""
        ...

    async def aclose(self) -> None: ...


class JobQueue(Protocol):
    async def enqueue(self, job: Job, *, delay_ms: int = 0, priority: int = 0,
                      unfinished: Callable[[], Awaitable[bool]] | None = None, new: bool = False) -> bool:
        """Add a job; False when a job with the same id already exists (one that failed for good is replaced:
        queueing work again means it is still outstanding). `unfinished` is for a caller that can tell from the
        reply ledger whether the work is done (the sweeper): a completed job with this id is replaced only if
        `unfinished()`, asked after the job was seen completed, says its run ended without doing the work (so a
        job that completed a moment ago, after the caller's own read, is not run again). `new`: the caller has
        just recorded this work for the first time, so no job with its id can exist yet: it is added without
        looking for one first (adding stays idempotent: an existing job with the id is kept, never doubled).
        Raises DependencyUnavailable."""
        ...

    async def counts(self) -> dict[str, int]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a reply generator needs to answer the customer's latest message(s)."""

    persona: Persona
    customer_first_name: str
    lead: LeadForm | None
    history: list[ChatMessage]
    new_messages: list[ChatMessage]
    now: datetime

    def known_facts(self) -> CustomerFacts:
        """What the customer has told us in the form and this episode's messages, newest winning."""
        return fold_customer_facts(self.lead, episode_of(self.history, self.new_messages), self.now.date())


@dataclass(frozen=True, slots=True)
class HandoffSignal:
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    source: str = "offline"
    handoff: HandoffSignal | None = None
    facts_used: list[str] = field(default_factory=list)


class ReplyGenerator(Protocol):
    async def generate(self, context: ReplyContext) -> Reply: ...

    def stream(self, context: ReplyContext) -> AsyncIterator[str]: ...


class EventPublisher(Protocol):
    async def publish(self, conversation_id: int, event_type: str, payload: Mapping[str, Any]) -> None: ...

    async def publish_many(self, conversation_id: int, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Several events of one conversation, in order, in one go (one Redis round trip, one database write)."""
        ...

    def gathered(self) -> AbstractAsyncContextManager[None]:
        """Within it (in this task), events still go out live at once, but their analytics rows are written together
        at its end, also when it ends with an error: one database write for a whole reply."""

    def mirror_in(self) -> AbstractAsyncContextManager[list[MirrorRow]]:
        """Within `gathered`: the rows gathered so far, for the caller to write in its own transaction (the reply's
        ledger completion, `ConversationStore.complete_batch`). If the block ends with an error they are left to
        `gathered`'s end. Outside `gathered`: none (each publish wrote its own)."""

    async def publish_live(self, conversation_id: int, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Like `publish_many`, without the analytics mirror: for a caller that wrote the events' `mirrored` rows in
        its own transaction (the inbound message's, `ConversationStore.record_inbound`), or has none (typing)."""
        ...


class ConversationStore(Protocol):
    """Our own records: conversations, brokers, the reply ledger, webhook receipts."""

    async def create_conversation(self, *, inbox: str, inbox_conversation_id: str, inbox_contact_id: str,
                                  loan_type: str, lead: dict[str, Any], lead_score: int, persona_name: str,
                                  broker_id: int | None, token_hash: str | None = None,
                                  email_hash: str | None = None,
                                  consent_at: datetime | None = None,
                                  route: str | None = None) -> ConversationRecord: ...

    async def get_conversation(self, conversation_id: int) -> ConversationRecord | None: ...

    async def job_conversation(self, conversation_id: int, message_id: str | None = None) -> JobConversation | None:
        """The conversation, whether it is greeted, whether its slot was released for idleness and, given a message,
        when we accepted it and whether it is answered: one read."""
        ...

    async def find_by_inbox_id(self, inbox: str, inbox_conversation_id: str) -> ConversationRecord | None: ...

    async def find_reusable(self, *, inbox: str, inbox_contact_id: str, loan_type: str,
                            since: datetime, token_hash: str) -> ConversationRecord | None: ...

    async def set_ownership(self, conversation_id: int, *, owner: Owner | None = None,
                            status: ConversationStatus | None = None) -> None: ...

    async def hand_to_humans(self, conversation_id: int) -> int | None:
        """Bot → humans (owner human, status open, the customer waiting from now) if the bot owns it: the handoff's
        number (1, 2, …), or None when humans already owned it (only one caller wins a race)."""
        ...

    async def mark_waiting(self, conversation_id: int) -> None:
        """A customer wrote: if humans own the conversation and nobody is waiting yet, the wait starts now."""
        ...

    async def human_replied(self, conversation_id: int) -> None:
        """A human answered: the human-response clock stops (nobody waits) until the customer writes again."""
        ...

    async def set_broker(self, conversation_id: int, broker_id: int | None) -> None: ...

    async def list_brokers(self) -> list[BrokerRecord]: ...

    async def broker_by_name(self, name: str) -> BrokerRecord | None: ...

    async def claim_reply(self, conversation_id: int, key: str) -> LedgerClaim: ...

    async def complete_reply(self, conversation_id: int, key: str, token: str, *, state: str = "sent",
                             sent_message_id: str | None = None, note: str | None = None) -> bool: ...

    async def first_receipt(self, source: str, event: str, external_id: str) -> bool: ...

    async def forget_receipt(self, source: str, event: str, external_id: str) -> None: ...

    async def join_batch(self, conversation_id: int, keys: list[str], leader_key: str, token: str) -> list[str]: ...

    async def adopt_followers(self, conversation_id: int, leader_key: str, token: str) -> list[str]: ...

    async def settle_followers(self, conversation_id: int, leader_key: str, sent_message_id: str) -> list[str]: ...

    async def take_over_claims(self, conversation_id: int, keys: list[str], leader_key: str,
                               token: str) -> dict[str, str]: ...

    async def unclaimed_inbound(self, conversation_id: int, message_ids: list[str]) -> set[str]: ...

    async def answer_alone(self, conversation_id: int, key: str, token: str) -> bool: ...

    async def complete_batch(self, conversation_id: int, keys: list[str], token: str, *, state: str = "sent",
                             sent_message_id: str | None = None, note: str | None = None,
                             record_activity: bool = True, mirror: Sequence[MirrorRow] = ()) -> int: ...

    async def reply_key_of(self, conversation_id: int, key: str) -> str: ...

    async def finished_keys(self, conversation_id: int, keys: list[str]) -> set[str]: ...

    async def record_inbound(self, conversation_id: int, message_id: str, *, copy: HistoryCopy | None = None,
                             events: Sequence[tuple[str, dict[str, Any]]] = (),
                             received_at: datetime | None = None) -> bool:
        """Remember an accepted customer message (True the first time; received now, or at `received_at`, the
        moment its reply's delay is counted from) and do what `mark_waiting` does, keeping `copy` in our message
        history and, the first time only, `events` in the analytics mirror (already `mirrored`; the caller
        publishes them live without a mirror): all in one transaction."""
        ...

    async def mark_queued(self, conversation_id: int, message_id: str) -> None: ...


class MessageHistoryStore(Protocol):
    """Our own copy of an inbox conversation's messages, for inboxes we cannot read back.

    A Chatwoot agent-bot token may post messages but not list them, so the Chatwoot adapter records what it
    sends here and the webhook path records what customers and humans write. Ids are the inbox's message ids;
    recording the same id twice keeps one message.
    """

    async def record(self, conversation_id: str, message: ChatMessage) -> None: ...

    async def list_messages(self, conversation_id: str, *, before: str | None = None,
                            limit: int = 100) -> list[ChatMessage]:
        """Oldest first; `before` pages back from a message id, like `Inbox.list_messages`."""
        ...

    async def find_by_source_id(self, conversation_id: str, source_id: str) -> ChatMessage | None: ...


class BrokerCapacity(Protocol):
    """Atomic broker slots: taken on assignment, given back on handoff, resolution or final failure."""

    async def assign(self, conversation_id: int, persona_type: str, facts: AssignmentFacts, *,
                     preferred_broker_id: int | None = None) -> BrokerRecord | None:
        """The assigned broker (the preferred one when it has a free slot), or None when every broker is full
        (the lead waits for the next free one)."""
        ...

    async def release(self, conversation_id: int, *, handoff_reason: str | None = None,
                      reason: str | None = None) -> int | None: ...

    async def released_for_handoff(self, conversation_id: int) -> bool: ...

    async def release_idle(self, idle_before: datetime) -> list[int]:
        """Free the slots of bot-owned conversations with no customer message since `idle_before`."""
        ...

    async def idle_released(self, conversation_id: int) -> bool: ...

    async def waiting_conversations(self, limit: int = 50) -> list[tuple[int, int]]: ...

    async def reconcile(self) -> dict[str, int]: ...


SendGuard = Callable[[], Awaitable[None]]
"""Awaited before an irreversible post; raises when the caller may no longer post (e.g. lost its lock)."""


class ConversationLocks(Protocol):
    """Only one holder per conversation across all workers (see adapters/queue/conversation_lock.py)."""

    def hold(self, conversation_id: int, *, wait_s: float | None = None) -> AbstractAsyncContextManager[None]:
        """Hold the conversation; raise DependencyUnavailable (with `retry_after_s`) if it stays busy longer than
        `wait_s` (default: the adapter's own, a few seconds)."""
        ...

    async def confirm(self, conversation_id: int) -> None:
        """Raise DependencyUnavailable unless the caller has held the lock without a break since `hold` took it
        (the fence before an irreversible step: a lock lost to a Redis restart is not ours any more)."""
        ...


@dataclass(frozen=True, slots=True)
class RateCharge:
    """One request counted against one policy's bucket, e.g. (`leads_per_ip`, `203.0.113.7`)."""

    policy: str
    subject: str


@dataclass(frozen=True, slots=True)
class RateRefusal:
    """The charge that was over its limit, and whole seconds until its window frees an entry."""

    charge: RateCharge
    retry_after_s: int


class RateLimiter(Protocol):
    """Abuse limits shared by every API process (see adapters/ratelimit.py)."""

    async def acquire(self, charges: Sequence[RateCharge]) -> RateRefusal | None:
        """Count the request against every charge, or against none when one is over its limit (then say which).
        None also when the limiter's storage cannot be reached: the request goes on to its normal path."""
        ...

    async def check(self, charges: Sequence[RateCharge]) -> RateRefusal | None:
        """Whether one of these charges is over its limit now, without counting anything (e.g. sign-in: only a
        wrong password is counted, but a locked-out address is refused before its password is even tried)."""
        ...

    async def aclose(self) -> None: ...


class PersonalData(Protocol):
    """Finds and deletes a person's data, or old conversations, in every table (erasure and retention)."""

    async def find_by_email(self, addresses: list[str]) -> ErasureTarget: ...

    async def find_inactive(self, before: datetime, limit: int) -> ErasureTarget: ...

    async def delete(self, target: ErasureTarget, *, release_reason: str = "erased") -> ErasureCounts:
        """One transaction: give back open broker slots, then delete children before parents."""
        ...


class EventStreams(Protocol):
    """The realtime event history kept per conversation (Redis streams), as erasure needs it."""

    async def forget(self, conversation_ids: list[int]) -> int:
        """Delete these conversations' event streams; returns how many existed."""
        ...


class AgentStore(Protocol):
    """The console's agent accounts (adapters/db/agents.py)."""

    async def add(self, email: str, name: str, password_hash: str, *, is_admin: bool) -> AgentRecord | None:
        """None when the address already has an account."""
        ...

    async def remove(self, email: str) -> bool: ...

    async def get(self, agent_id: int) -> AgentRecord | None: ...

    async def credentials(self, email: str) -> tuple[AgentRecord, str] | None:
        """The agent and its password hash, for signing in."""
        ...

    async def signed_in(self, agent_id: int, new_hash: str | None) -> None:
        """Record the sign-in; store `new_hash` when the hash was made with older parameters."""
        ...


class PasswordHashing(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class ConsoleReadModel(Protocol):
    async def open_conversations(self, limit: int) -> list[ConversationFacts]:
        """Open (pending/open) conversations: waiting for a human first (longest first), then human-owned, then
        the bot's by latest activity."""
        ...

    async def facts(self, conversation_id: int) -> ConversationFacts | None: ...


@dataclass(frozen=True, slots=True)
class HandoffNotice:
    """What may leave the system about a handoff: no e-mail, no phone, no message text."""

    conversation_id: int
    handoff_number: int
    reason: str
    first_name: str | None


class HandoffNotifier(Protocol):
    async def handoff(self, notice: HandoffNotice) -> None:
        """Tell people a conversation waits for them. Never raises: a handoff must not fail for a notice."""
        ...


class Notifier(Protocol):
    """Where operators are told: Slack's incoming webhook, a generic JSON webhook (adapters/notify/)."""

    name: str

    async def post(self, text: str, payload: Mapping[str, Any]) -> None:
        """Deliver `text` (Slack) or `payload` (JSON webhook); raise when the destination refused or is down."""
        ...


class AlertState(Protocol):
    """Alert bookkeeping shared by every process (Redis), so each start and end is told once."""

    async def claim_round(self, every_s: float) -> bool:
        """True for the one process that judges the conditions this round."""
        ...

    async def judging(self, read_at: float) -> bool:
        """Record that figures read at `read_at` are judged now; False (judge nothing) if a round has already
        judged figures read later: these are stale."""
        ...

    async def active_since(self, name: str, active: bool, now: float) -> float | None:
        """When the condition became active (kept while it stays so); None once it is not."""
        ...

    async def start(self, name: str) -> bool:
        """Set the firing flag; True only for the caller that set it."""
        ...

    async def end(self, name: str) -> bool:
        """Clear the firing flag; True only for the caller that cleared it."""
        ...

    async def signal(self, name: str, *, ttl_s: float) -> None:
        """This process sees `name` (e.g. an open circuit) now; it fades after `ttl_s` unless said again."""
        ...
