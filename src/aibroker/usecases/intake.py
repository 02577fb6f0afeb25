"""Lead intake: lead form → contact + conversation in the inbox → greeting job on the queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aibroker.domain.conversation import ContactInfo, ConversationRecord
from aibroker.domain.jobs import NewConversationJob
from aibroker.domain.leads import LeadForm
from aibroker.domain.personas import PERSONAS_BY_NAME, Persona, persona_for_score
from aibroker.domain.ports import ConversationStore, EventPublisher, Inbox, JobQueue
from aibroker.domain.privacy import email_hash, new_conversation_token, token_hash
from aibroker.domain.rollout import Route
from aibroker.domain.scoring import queue_priority, score_lead
from aibroker.errors import DependencyUnavailable
from aibroker.usecases.assignment import BrokerAssignment
from aibroker.usecases.rollout import RolloutControl

# FACTS §S: an open or pending conversation of the same contact and loan type within 30 days is reused (issue
# #10: only by the browser holding its access token).
REUSE_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    conversation: ConversationRecord
    persona: Persona
    reused: bool
    token: str  # the conversation's access token: the one presented (reuse) or a new one, shown only here


class GreetingNotQueued(DependencyUnavailable):
    """A new conversation was opened but its greeting could not be queued (Redis down). The conversation stays
    (the sweeper greets it once the queue is back), and the 503 carries its token: the form's retry sends it and
    continues this conversation, rather than leaving it orphaned and opening a second one."""

    def __init__(self, cause: DependencyUnavailable, result: IntakeResult) -> None:
        super().__init__(cause.part, cause.reason, retry_after_s=cause.retry_after_s)
        self.result = result


class LeadIntake:
    def __init__(self, store: ConversationStore, inbox: Inbox, queue: JobQueue, events: EventPublisher,
                 assignment: BrokerAssignment, clock: Callable[[], datetime],
                 rollout: RolloutControl | None = None) -> None:
        self._rollout = rollout
        self._store = store
        self._assignment = assignment
        self._inbox = inbox
        self._queue = queue
        self._events = events
        self._clock = clock

    async def submit(self, lead: LeadForm, presented_token: str | None = None) -> IntakeResult:
        """`presented_token`: the access token the browser holds from an earlier submission. Only with it does
        the same contact continue a conversation; anyone else who types the same e-mail (or the same person in
        another browser) gets a new conversation of the same contact and learns nothing of the other one."""
        score = score_lead(lead)
        contact_id = await self._inbox.find_or_create_contact(
            ContactInfo(name=lead.name, email=str(lead.email), phone=lead.phone))
        reusable = None
        if presented_token:
            reusable = await self._store.find_reusable(inbox=self._inbox.name, inbox_contact_id=contact_id,
                                                       loan_type=lead.loan_type.value,
                                                       since=self._clock() - REUSE_WINDOW,
                                                       token_hash=token_hash(presented_token))
        if reusable is not None and presented_token:
            record, reused, token = reusable, True, presented_token
            persona = PERSONAS_BY_NAME[record.persona_name]
        else:
            token = new_conversation_token()
            record, reused = await self._open_conversation(lead, contact_id, score.total, token), False
            persona = PERSONAS_BY_NAME[record.persona_name]
            await self._events.publish(record.id, "conversation:created",
                                       {"persona": persona.name, "lead_score": score.total,
                                        "broker_assigned": record.broker_id is not None})
        # Enqueued on reuse too: if an earlier submission's enqueue failed (Redis down → 503 with the token), the
        # form's retry lands here. The job id makes a second add a no-op; the reply ledger keeps one greeting.
        result = IntakeResult(conversation=record, persona=persona, reused=reused, token=token)
        try:
            await self._queue.enqueue(NewConversationJob(conversation_id=record.id, lead_score=record.lead_score),
                                      priority=queue_priority(record.lead_score))
        except DependencyUnavailable as error:
            if reused:
                raise
            raise GreetingNotQueued(error, result) from error
        return result

    async def _open_conversation(self, lead: LeadForm, contact_id: str, score: int, token: str) -> ConversationRecord:
        """Create the conversation with the score band's persona, then take a broker slot; the broker
        actually assigned (same persona type, lowest workload) speaks. No slot: the lead waits."""
        persona = persona_for_score(score)
        attributes = {"lead_score": score, "broker": persona.name, "loan_type": lead.loan_type.value,
                      "property_type": lead.property_type.value if lead.property_type else None,
                      "timeline": lead.timeline.value if lead.timeline else None}
        inbox_conversation_id = await self._inbox.create_conversation(contact_id, attributes)
        route = await self._rollout.route_for_new(self._inbox.name, inbox_conversation_id) if self._rollout else None
        record = await self._store.create_conversation(
            inbox=self._inbox.name, inbox_conversation_id=inbox_conversation_id, inbox_contact_id=contact_id,
            loan_type=lead.loan_type.value, lead=lead.model_dump(mode="json"),
            lead_score=score, persona_name=persona.name, broker_id=None, route=route, token_hash=token_hash(token),
            email_hash=email_hash(str(lead.email)), consent_at=self._clock() if lead.consent else None)
        if route == Route.LEGACY or await self._assignment.assign(record) is None:  # legacy: no broker slot
            return record
        assigned = await self._store.get_conversation(record.id)
        assert assigned is not None
        return assigned
