"""Greeting and answering: pacing, typing, generation, exactly-once sending, bursts, handoff detection.

Exactly once: every reply is claimed in the ledger first (key = `greeting`, or `message:<id>`) and sent
with a deterministic tag. A retried job finds the claim: DONE means send nothing; RECLAIMED means an
earlier attempt died mid-way, so we look for the tagged message in the inbox before sending again.

One at a time: all work on a conversation happens under its lock (Redis, across workers).

Pacing outside the job: a customer message's human-like delay is not slept in a worker slot. The reply is due at
our receipt time plus a delay drawn from a seed of the message (`ReplyPacer`: every attempt and every process
gets the same moment). Normally the API, accepting the message, shows the broker typing and queues the job already
delayed until then (`IncomingMessageJob.due_at_ms`): the wait costs a delayed job in Redis, which survives any
process's death, and the worker runs the job once, when the reply is due. A job queued without it (queued again by
the sweeper, or re-created by a redelivery) works the moment out itself on its first run, shows typing, and asks the
queue to run it again then (`ComeBackLater`). Messages that arrive meanwhile are folded into the same reply when it
runs (a burst gets one answer addressing all of it, in order); their own jobs then find nothing left to do. A
handoff trigger is not delayed (one the API cannot see, three bot turns without progress, is decided from the
history when the reply is due).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aibroker.domain.conversation import (
    ChatMessage,
    ConversationRecord,
    InboundState,
    JobConversation,
    Owner,
    Role,
    activity_outdated,
    as_utc,
)
from aibroker.domain.greetings import greeting_for, joined_activity, waiting_greeting
from aibroker.domain.handoff import ConversationProgress, HandoffDecision, HandoffReason, detect_handoff
from aibroker.domain.jobs import IncomingMessageJob, NewConversationJob
from aibroker.domain.leads import LeadForm
from aibroker.domain.ledger import ClaimOutcome, LedgerClaim, greeting_key, message_key, source_tag
from aibroker.domain.live_events import broker_typing
from aibroker.domain.pacing import MIN_DEFER_MS, PacingPolicy, ReplyPacer
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.ports import (
    ConversationLocks,
    ConversationStore,
    EventPublisher,
    Inbox,
    ReplyContext,
    ReplyGenerator,
)
from aibroker.domain.quick_replies import quick_replies
from aibroker.errors import ComeBackLater, TransientInboxError
from aibroker.logging import get_logger
from aibroker.usecases.assignment import BrokerAssignment
from aibroker.usecases.handoff import HandoffService

log = get_logger(__name__)

APOLOGY = ("Sorry, I'm having trouble answering right now. I've asked one of our human specialists to "
           "pick this up, they will reply here shortly.")
HANDOFF_TEXT = ("I'll bring in one of our human specialists now; they will continue right here with you "
                "shortly.")
Sleep = Callable[[float], Awaitable[None]]
Event = tuple[str, Mapping[str, Any]]  # (type, payload) for the event bus
HISTORY_LIMIT = 50
GIVE_UP_WAIT_S = 60.0
GREETED_REMEMBERED = 100_000  # conversations this process knows are greeted (then it forgets them all, and asks)
# A job for a conversation that no longer exists (erased, or purged by retention) ends quietly: nothing to answer,
# nobody to apologise to, and a retry would find nothing either.
ERASED = "skipped: conversation erased"


@dataclass(frozen=True, slots=True)
class PacedReply:
    delay_ms: int  # the human-like delay drawn for this message
    due_in_ms: int  # from now until the reply is due (0: due)


class ReplyService:
    def __init__(self, store: ConversationStore, inbox: Inbox, generator: ReplyGenerator, events: EventPublisher,
                 handoffs: HandoffService, locks: ConversationLocks, *, pacing: PacingPolicy, sla_budget_ms: int,
                 expected_generation_ms: int, clock: Callable[[], datetime], rng: random.Random | None = None,
                 sleep: Sleep = asyncio.sleep, pacing_enabled: bool = True,
                 assignment: BrokerAssignment | None = None, disclose_ai: bool = True,
                 observe_delay: Callable[[float], None] | None = None,
                 observe_reply: Callable[[float], None] | None = None) -> None:
        self._store = store
        self._inbox = inbox
        self._generator = generator
        self._events = events
        self._handoffs = handoffs
        self._locks = locks
        self._pacing = pacing
        self.pacer = ReplyPacer(pacing, expected_generation_ms, sla_budget_ms)  # (the API paces with the same)
        self._clock = clock
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._pacing_enabled = pacing_enabled
        self._assignment = assignment
        self._disclose_ai = disclose_ai
        self._observe_delay = observe_delay  # (metrics: each reply's human-like delay, in seconds)
        self._observe_reply = observe_reply  # (metrics: customer message → its reply, in seconds)
        # A greeting, once finished, stays finished: no need to ask the ledger again for every reply. (Keyed by id
        # and creation time: SQLite may give an erased conversation's id to the next one.)
        self._greeted: set[tuple[int, datetime]] = set()

    async def _wait(self, ms: int) -> None:
        if self._pacing_enabled and ms > 0:
            await self._sleep(ms / 1000)

    async def _already_sent(self, conversation: ConversationRecord, key: str, claim: LedgerClaim) -> bool:
        """After a takeover: did the dead attempt (or its burst leader) get our message out already?"""
        if claim.outcome != ClaimOutcome.RECLAIMED:
            return False
        sent = await self._find_sent(conversation, key)
        if sent is None:
            return False
        await self._settle_sent(conversation, key, claim.token, sent)
        return True

    async def _settle_sent(self, conversation: ConversationRecord, key: str, token: str, sent: ChatMessage) -> None:
        """`key` was answered by `sent`; so were the followers its dead attempt had joined to it, if it led a burst.
        (Left claimed, they would wait for jobs of their own, which may have run already.)"""
        await self._store.complete_reply(conversation.id, key, token, sent_message_id=sent.id)
        if followers := await self._store.settle_followers(conversation.id, key, sent.id):
            log.info("conversation %d: %d message(s) of a dead attempt's burst were answered by its reply",
                     conversation.id, len(followers))

    async def _find_sent(self, conversation: ConversationRecord, key: str) -> ChatMessage | None:
        """The reply to `key` if it is in the inbox: its burst leader's tagged reply, or its own."""
        leader = await self._store.reply_key_of(conversation.id, key)
        for candidate in dict.fromkeys((leader, key)):
            sent = await self._inbox.find_sent_message(conversation.inbox_conversation_id,
                                                       source_tag(conversation.id, candidate))
            if sent is not None:
                return sent
        return None

    # --- greeting ----------------------------------------------------------------------------------
    async def greet(self, job: NewConversationJob, conversation: ConversationRecord | None = None) -> str:
        """`conversation`: the job's conversation if the caller read it for this job already (else it is read)."""
        async with self._events.gathered(), self._locks.hold(job.conversation_id):
            conversation = conversation or await self._store.get_conversation(job.conversation_id)
            return ERASED if conversation is None else await self._greet(conversation)

    async def _greet(self, conversation: ConversationRecord) -> str:
        if conversation.owner == Owner.HUMAN:
            return "skipped: human owns the conversation"
        key = greeting_key()
        claim = await self._store.claim_reply(conversation.id, key)
        if claim.outcome == ClaimOutcome.DONE:
            return "skipped: already greeted"
        if await self._already_sent(conversation, key, claim):
            return "recovered: greeting was already sent"
        inbox_id = conversation.inbox_conversation_id
        persona = PERSONAS_BY_NAME[conversation.persona_name]
        schedule = self._pacing.greeting_choreography(rng=self._rng)
        lead = _lead_of(conversation)
        first_name = lead.address_name if lead else None
        await self._wait(schedule.joined_after_ms)
        if conversation.broker_id is None:  # every broker is full: say so honestly, the lead is queued
            text = waiting_greeting(first_name, disclose_ai=self._disclose_ai)
        else:
            await self._inbox.post_activity(inbox_id, joined_activity(persona))
            await self._events.publish(conversation.id, "broker:joined", {"broker": persona.name})
            text = greeting_for(persona, first_name, conversation.loan_type,
                                lead.property_type.value if lead and lead.property_type else None,
                                disclose_ai=self._disclose_ai)
        await self._typing_wait(conversation, schedule.typing_ms)
        sent = await self._send(conversation, text, source_tag(conversation.id, key), source="greeting")
        await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id)
        return "greeted"

    # --- answering ---------------------------------------------------------------------------------
    async def answer(self, job: IncomingMessageJob, known: JobConversation | None = None) -> str:
        """`known`: the job's conversation if the caller read it for this job already (else it is read once). Read
        before the lock is taken, it may be a moment old: an owner change in that moment is caught by the check
        right before sending, as one during generation is."""
        if known is None or known.inbound is None:  # (read once, with the message's state)
            known = await self._store.job_conversation(job.conversation_id, job.message_id)
        if known is None or known.inbound is None:
            return ERASED
        conversation = known.record
        if known.greeted:
            self._remember_greeted(conversation)
        if not self._pacing_enabled:
            typing_shown = False
        elif job.due_at_ms is not None:  # paced by the API, which showed typing then (a greeting since, rare, ended it)
            if (due_in_ms := job.due_at_ms - int(self._clock().timestamp() * 1000)) >= MIN_DEFER_MS:
                raise ComeBackLater(due_in_ms / 1000, f"reply to message {job.message_id} due in {due_in_ms} ms")
            typing_shown = self._greeted_already(conversation)
        else:
            paced = await self._due_in_ms(job, conversation, known.inbound)
            if paced is not None and paced.due_in_ms >= MIN_DEFER_MS:
                raise ComeBackLater(paced.due_in_ms / 1000, f"reply to message {job.message_id} due in "
                                                            f"{paced.due_in_ms} ms")
            typing_shown = paced is not None and paced.delay_ms >= MIN_DEFER_MS  # (by the deferral: `_due_in_ms`)
        # The reply's events go out live as they happen; their analytics rows are written once, after the lock.
        async with self._events.gathered(), self._locks.hold(job.conversation_id):
            if conversation.owner == Owner.BOT and not self._greeted_already(conversation):
                if not await self._store.finished_keys(conversation.id, [greeting_key()]):
                    await self._greet(conversation)  # the greeting always comes before the first answer
                self._remember_greeted(conversation)
            return await self._answer(conversation, job.message_id, typing_shown=typing_shown,
                                      idle_released=known.idle_released)

    def _greeted_already(self, conversation: ConversationRecord) -> bool:
        return (conversation.id, conversation.created_at) in self._greeted

    def _remember_greeted(self, conversation: ConversationRecord) -> None:
        if len(self._greeted) >= GREETED_REMEMBERED:
            self._greeted.clear()
        self._greeted.add((conversation.id, conversation.created_at))

    async def _due_in_ms(self, job: IncomingMessageJob, conversation: ConversationRecord,
                         inbound: InboundState) -> PacedReply | None:
        """When the reply to this message is due; None when pacing does not apply (not the bot's, not greeted yet,
        answered already, gone, or a handoff trigger: answered at once). While it is not due, the broker is shown
        typing (so a job that comes back when it is due finds typing shown already: its first run is normally
        milliseconds after the message, long before the delay ends). Reads only; the claim is taken when the job
        comes back."""
        if conversation.owner != Owner.BOT or not self._greeted_already(conversation):
            return None
        if inbound.answered:
            return None
        history = await self._inbox.list_messages(conversation.inbox_conversation_id, limit=HISTORY_LIMIT)
        message = next((m for m in history if m.id == job.message_id), None)
        if message is None or detect_handoff(message.content, _progress(history, message)) is not None:
            return None
        persona = PERSONAS_BY_NAME[conversation.persona_name]
        delay = self.pacer.delay(persona.persona_type, conversation.id, job.message_id, message.content)
        received = inbound.received_at or message.created_at
        due_in_ms = int((received + timedelta(milliseconds=delay.ms) - self._clock()).total_seconds() * 1000)
        if due_in_ms >= MIN_DEFER_MS:
            if self._observe_delay is not None:
                self._observe_delay(delay.ms / 1000)
            await self._set_typing(conversation, True)  # shown while the reply waits
        return PacedReply(delay_ms=delay.ms, due_in_ms=max(0, due_in_ms))

    async def _answer(self, conversation: ConversationRecord, message_id: str, *, typing_shown: bool = False,
                      idle_released: bool | None = None) -> str:
        key = message_key(message_id)
        claim = await self._store.claim_reply(conversation.id, key)
        if claim.outcome == ClaimOutcome.DONE:
            return "skipped: already answered"
        if await self._already_sent(conversation, key, claim):  # (also after a handoff that died before completing)
            return "recovered: reply was already sent"
        if conversation.owner == Owner.HUMAN:
            await self._store.complete_reply(conversation.id, key, claim.token, state="skipped",
                                             note="human owns the conversation")
            if self._pacing_enabled:  # (the typing shown while the reply waited must not stay on)
                await self._set_typing(conversation, False)
            return "skipped: human owns the conversation"
        if claim.outcome == ClaimOutcome.RECLAIMED:  # answered by us now: out of a dead leader's burst
            await self._store.answer_alone(conversation.id, key, claim.token)
        if self._assignment is not None:  # back after an idle release: a broker again, no second greeting
            conversation = await self._assignment.resume_if_idle(conversation, idle_released)
        inbox_id = conversation.inbox_conversation_id
        history = await self._inbox.list_messages(inbox_id, limit=HISTORY_LIMIT)
        message = next((m for m in history if m.id == message_id), None)
        if message is None:
            await self._store.complete_reply(conversation.id, key, claim.token, state="skipped",
                                             note="message not found in inbox")
            return "skipped: message not found"
        received: Event = ("message:user", {"message_id": message.id})

        decision = detect_handoff(message.content, _progress(history, message))
        if decision is not None:
            await self._events.publish(conversation.id, *received)
            return await self._hand_off(conversation, decision, [key], claim.token, key)

        persona = PERSONAS_BY_NAME[conversation.persona_name]
        if typing_shown:
            await self._events.publish(conversation.id, *received)
        else:
            await self._set_typing(conversation, True, after=[received])
        try:
            # Messages that arrived during the wait (see `_due_in_ms`) join this reply (one answer per burst, in
            # order).
            burst = await self._burst(conversation, history, message, key, claim)
            keys = [key, *(message_key(m.id) for m in burst if m.id != message.id)]
            lead = _lead_of(conversation)  # (validated once: the e-mail check alone is a noticeable cost)
            context = ReplyContext(persona=persona, customer_first_name=lead.address_name if lead else "there",
                                   lead=lead, history=[m for m in history if m not in burst],
                                   new_messages=burst, now=self._clock())
            reply = await self._generator.generate(context)
        except BaseException:
            await self._set_typing(conversation, False)
            raise
        # The typing stops in the inbox now; its event goes out with the reply's (one round trip).
        await self._inbox_typing(conversation, False)
        typing_off = broker_typing(False)
        # A human may have taken over while we were generating: re-check right before sending.
        current = await self._store.get_conversation(conversation.id)
        if current is None:  # purged meanwhile (retention takes no lock)
            return ERASED
        if current.owner == Owner.HUMAN:
            await self._events.publish(conversation.id, *typing_off)
            await self._store.complete_batch(conversation.id, keys, claim.token, state="skipped",
                                             note="human took over during generation")
            return "skipped: human took over"
        if reply.handoff is not None:
            reason = HandoffReason(reply.handoff.reason) if reply.handoff.reason in HandoffReason._value2member_map_ \
                else HandoffReason.COMPLIANCE
            decision = HandoffDecision(reason, reply.handoff.detail or "responder asked for a human")
        if decision is not None:  # hand off first, complete last: a failure in between is retried, never lost
            await self._handoffs.hand_off(current, decision)
        sent = await self._send(current, reply.text, source_tag(conversation.id, key), source=reply.source,
                                asked=[m.content for m in history if m.role == Role.CUSTOMER], after=[typing_off])
        async with self._events.mirror_in() as mirror:  # the reply's analytics rows commit with its ledger rows
            await self._store.complete_batch(conversation.id, keys, claim.token, sent_message_id=sent.id,
                                             record_activity=activity_outdated(current, self._clock()), mirror=mirror)
        if self._observe_reply is not None:  # from the burst's first message, as the customer waited
            self._observe_reply(_elapsed_s(burst[0].created_at, sent.created_at))
        return f"answered {len(keys)} message(s)" + (" and handed off" if decision is not None else "")

    async def _burst(self, conversation: ConversationRecord, history: list[ChatMessage], message: ChatMessage,
                     leader_key: str, claim: LedgerClaim) -> list[ChatMessage]:
        """The customer's unanswered messages since our last reply, oldest first, claimed for this reply; after a
        crash, also those our dead attempt had joined (wherever later replies put them in the history)."""
        last_answer = max((i for i, m in enumerate(history) if m.role in (Role.BOT, Role.HUMAN) and not m.private),
                          default=-1)
        candidates = [m for m in history[last_answer + 1:] if m.role == Role.CUSTOMER and m.id != message.id]
        # A message that arrived while the previous reply was being generated sits before that reply but is not
        # answered by it; if a later message's job gets the conversation before its own job does, it must answer
        # it too, or the later message is answered first.
        earlier = [m.id for m in history[:last_answer + 1] if m.role == Role.CUSTOMER and m.id != message.id]
        if missed := await self._store.unclaimed_inbound(conversation.id, earlier) if earlier else set():
            candidates = [m for m in history if m.id in missed] + candidates
        keys = [message_key(m.id) for m in candidates]
        others = await self._store.join_batch(conversation.id, keys, leader_key, claim.token) if candidates else []
        if left := [key for key in keys if key not in others]:
            others += await self._take_over(conversation, left, leader_key, claim.token)
        if claim.outcome == ClaimOutcome.RECLAIMED:
            others += await self._store.adopt_followers(conversation.id, leader_key, claim.token)
        joined = {m.id for m in history if m.role == Role.CUSTOMER and message_key(m.id) in others}
        return [m for m in history if m.id == message.id or m.id in joined]

    async def _take_over(self, conversation: ConversationRecord, keys: list[str], leader_key: str,
                         token: str) -> list[str]:
        """Unanswered messages still claimed by an attempt that died join this reply, unless that attempt's reply
        is in the inbox already. Otherwise a later message would be answered first, and the dead attempt's job,
        resumed by BullMQ's stalled check seconds later, would answer the earlier one after it; now it finds the
        message answered. (We hold the conversation's lock, under which every attempt works: any other claim is
        orphaned.)"""
        joined = []
        for key, old_leader in (await self._store.take_over_claims(conversation.id, keys, leader_key, token)).items():
            for candidate in dict.fromkeys((old_leader, key)):
                sent = await self._inbox.find_sent_message(conversation.inbox_conversation_id,
                                                           source_tag(conversation.id, candidate))
                if sent is not None:
                    await self._store.complete_reply(conversation.id, key, token, sent_message_id=sent.id)
                    break
            else:
                joined.append(key)
        if joined:
            log.info("conversation %d: answering %d message(s) a dead attempt left claimed", conversation.id,
                     len(joined))
        return joined

    # --- final failure ------------------------------------------------------------------------------
    async def give_up(self, job: NewConversationJob | IncomingMessageJob, reason: str) -> str:
        """The job's last attempt failed: one apology and a handoff to a human, exactly once. (Not a queued job,
        so it may wait for the conversation as long as another job could hold it.)"""
        async with self._locks.hold(job.conversation_id, wait_s=GIVE_UP_WAIT_S):
            conversation = await self._store.get_conversation(job.conversation_id)
            if conversation is None:
                return ERASED
            key = greeting_key() if isinstance(job, NewConversationJob) else message_key(job.message_id)
            claim = await self._store.claim_reply(conversation.id, key)
            if claim.outcome == ClaimOutcome.DONE:
                return "skipped: already answered"
            if (sent := await self._find_sent(conversation, key)) is not None:
                await self._settle_sent(conversation, key, claim.token, sent)
                return "recovered: reply was already sent"
            if conversation.owner == Owner.HUMAN:
                await self._store.complete_reply(conversation.id, key, claim.token, state="skipped",
                                                 note="human owns the conversation")
                return "skipped: human owns the conversation"
            await self._store.answer_alone(conversation.id, key, claim.token)
            # Hand off first: if that fails, nothing was promised and the sweeper queues the work again.
            await self._handoffs.hand_off(conversation, HandoffDecision.for_job_failure(reason))
            sent = await self._send(conversation, APOLOGY, source_tag(conversation.id, key), source="apology")
            await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id,
                                             note="job_failed")
            return "handed off and apologised"

    async def _hand_off(self, conversation: ConversationRecord, decision: HandoffDecision, keys: list[str],
                        token: str, leader_key: str) -> str:
        # Hand off, tell the customer, then complete: if the handoff fails, the retry hands off again; if we die
        # after it, the retry finds a human owner (and our message, if it went out) and completes the claim.
        await self._handoffs.hand_off(conversation, decision)
        sent = await self._send(conversation, HANDOFF_TEXT, source_tag(conversation.id, leader_key),
                                source="handoff")
        async with self._events.mirror_in() as mirror:
            await self._store.complete_batch(conversation.id, keys, token, sent_message_id=sent.id,
                                             note=f"handoff:{decision.reason.value}", mirror=mirror)
        return f"handed off: {decision.reason.value}"

    async def _typing_wait(self, conversation: ConversationRecord, typing_ms: int) -> None:
        await self._set_typing(conversation, True)
        try:
            await self._wait(typing_ms)
        finally:
            await self._set_typing(conversation, False)

    async def _set_typing(self, conversation: ConversationRecord, on: bool, *, after: Sequence[Event] = ()) -> None:
        """Typing on or off, in the live events (published with `after`'s events, which go first) and the inbox."""
        await self._events.publish_many(conversation.id, [*after, broker_typing(on)])
        await self._inbox_typing(conversation, on)

    async def _inbox_typing(self, conversation: ConversationRecord, on: bool) -> None:
        """The typing indicator is cosmetic: an inbox hiccup on it must not fail (or delay) the reply."""
        try:
            await self._inbox.set_typing(conversation.inbox_conversation_id, on)
        except TransientInboxError as error:
            log.info("typing indicator %s skipped: %s", "on" if on else "off", error.reason)

    async def _send(self, conversation: ConversationRecord, text: str, tag: str, *, source: str,
                    asked: list[str] | None = None, after: Sequence[Event] = ()) -> ChatMessage:
        """Post the message (the caller then completes its claim, which records the activity) and publish it, after
        `after`'s events."""
        async def still_ours() -> None:  # before every post: held without a break, so nobody else answered
            await self._locks.confirm(conversation.id)

        sent = await self._inbox.send_message(conversation.inbox_conversation_id, text, source_id=tag,
                                              guard=still_ours)
        # The text travels with the event, so a live stream (and its replay) shows the message without a read.
        persona = PERSONAS_BY_NAME.get(conversation.persona_name)  # (an old record's name may be no persona now)
        chips = quick_replies(persona, text, source=source, asked=asked or []) if persona else []
        await self._events.publish_many(conversation.id, [*after, ("message:ai", {
            "message_id": sent.id, "source": source, "role": sent.role.value, "content": sent.content,
            "created_at": sent.created_at.isoformat(), "quick_replies": chips})])
        return sent


def _elapsed_s(earlier: datetime, later: datetime) -> float:
    """Seconds between two inbox timestamps."""
    return (as_utc(later) - as_utc(earlier)).total_seconds()


def _lead_of(conversation: ConversationRecord) -> LeadForm | None:
    try:
        return LeadForm.model_validate(conversation.lead)
    except ValueError:
        return None


def _progress(history: list[ChatMessage], current: ChatMessage) -> ConversationProgress:
    """Replay the customer's messages up to `current` to know how many bot turns made no progress."""
    progress = ConversationProgress()
    for item in history:
        if item.role == Role.CUSTOMER:
            progress = progress.observe(item.content)
        if item.id == current.id:
            break
    return progress
