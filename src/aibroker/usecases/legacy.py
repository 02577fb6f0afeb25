"""The legacy path and the switches' effect on jobs: what aibroker does NOT do for a conversation.

- A legacy conversation's customer messages are recorded (`legacy_forwards`, unique per message) and forwarded to
  the n8n workflow through the queue: a redelivered webhook finds the row and forwards nothing new, a failed POST is
  retried with backoff, and the sweeper queues a forward Redis lost. Nothing else of aibroker's touches it: no
  broker slot, no greeting, no pacing, no reply; with shadow mode, a reply is generated and stored, never sent.
- With the AI switched off (`enable_ai_broker=false`) the bot sends nothing: a job for a conversation stands down,
  leaving it to humans (owner human, reason `ai_disabled`, the inbox status `open`), and nothing is forwarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aibroker.domain.conversation import ConversationRecord, ConversationStatus, Owner
from aibroker.domain.jobs import ForwardLegacyJob, IncomingMessageJob, Job, NewConversationJob, ShadowReplyJob
from aibroker.domain.ledger import ClaimOutcome, greeting_key, message_key, source_tag
from aibroker.domain.ports import ConversationStore, Inbox, JobQueue
from aibroker.domain.rollout import Route, legacy_body
from aibroker.errors import DependencyUnavailable, InboxError
from aibroker.logging import get_logger
from aibroker.usecases.assignment import BrokerAssignment
from aibroker.usecases.rollout import RolloutControl

log = get_logger(__name__)

AI_DISABLED = "ai_disabled"
GRACE = timedelta(seconds=15)
HORIZON = timedelta(hours=24)
RETRY_FAILED_AFTER = timedelta(minutes=1)  # a forward that failed for good is tried again this long after


ORDER_WAIT_S = 1.0  # how long a forward waits before looking again whether the earlier message went out


class ForwardStore(Protocol):
    async def record_forward(self, conversation_id: int, message_id: str, payload: dict[str, Any]) -> bool: ...

    async def forward_of(self, conversation_id: int, message_id: str) -> tuple[dict[str, Any], bool] | None: ...

    async def earlier_unforwarded(self, conversation_id: int, message_id: str) -> bool: ...

    async def mark_forwarded(self, conversation_id: int, message_id: str, *, error: str | None = None) -> None: ...

    async def failing_forwards(self) -> int: ...

    async def unforwarded(self, *, received_before: datetime, received_after: datetime,
                          attempted_before: datetime, limit: int = 200) -> list[tuple[int, str]]: ...

    async def match_legacy_reply(self, conversation_id: int, legacy_message_id: str, text: str) -> bool: ...


class LegacyWorkflow(Protocol):
    url: str

    async def forward(self, body: dict[str, Any]) -> None: ...

    async def reachable(self) -> bool: ...

    async def aclose(self) -> None: ...


class ShadowRunner(Protocol):
    async def run(self, job: ShadowReplyJob) -> str: ...


class LegacyPath:
    def __init__(self, store: ConversationStore, forwards: ForwardStore, rollout: RolloutControl, queue: JobQueue,
                 inbox: Inbox, assignment: BrokerAssignment, workflow: LegacyWorkflow | None,
                 shadow: ShadowRunner | None = None) -> None:
        self._store = store
        self._forwards = forwards
        self._rollout = rollout
        self._queue = queue
        self._inbox = inbox
        self._assignment = assignment
        self._workflow = workflow
        self._shadow = shadow

    # --- on the way in (API) -------------------------------------------------------------------------
    async def divert(self, conversation: ConversationRecord, message_id: str, content: str | None = None,
                     raw: Mapping[str, Any] | None = None) -> bool | None:
        """Take a customer message off aibroker's path: None when aibroker answers it, else whether it was new."""
        switches = await self._rollout.switches()
        if not switches.enable_ai_broker:
            await self.stand_down(conversation)
            return False
        if await self._rollout.route_of(conversation) != Route.LEGACY:
            return None
        raw = raw or {}
        body = legacy_body(conversation.inbox_conversation_id, message_id, content, raw.get("sender"),
                           raw.get("conversation"))
        first = await self._forwards.record_forward(conversation.id, message_id, body)
        if first:  # a redelivery of a forwarded message queues nothing: the job id may be long gone
            await self._queue.enqueue(ForwardLegacyJob(conversation_id=conversation.id, message_id=message_id))
            if switches.shadow_mode:
                await self._queue.enqueue(ShadowReplyJob(conversation_id=conversation.id, message_id=message_id))
        return first

    async def is_legacy(self, conversation: ConversationRecord) -> bool:
        return await self._rollout.route_of(conversation) == Route.LEGACY

    async def legacy_reply(self, conversation: ConversationRecord, message_id: str | None,
                           content: str | None) -> str | None:
        """An outgoing message in a legacy conversation is the workflow's (or an agent's) answer: it is paired
        with the waiting shadow reply, and never makes the conversation human-owned."""
        if await self._rollout.route_of(conversation) != Route.LEGACY:
            return None
        if message_id and content is not None:
            await self._forwards.match_legacy_reply(conversation.id, message_id, content)
        return "legacy reply recorded"

    # --- jobs (worker) -------------------------------------------------------------------------------
    async def run(self, job: Job, conversation: ConversationRecord | None = None) -> str | None:
        """Run the legacy path's jobs, and stop aibroker's own jobs the switches forbid; None: not ours to stop.
        `conversation`: the job's conversation if the caller read it for this job already (else it is read)."""
        if isinstance(job, ForwardLegacyJob):
            return await self._forward(job)
        if isinstance(job, ShadowReplyJob):
            return await self._shadow.run(job) if self._shadow is not None else "skipped: no shadow runner"
        conversation = conversation or await self._store.get_conversation(job.conversation_id)
        if conversation is None:
            return None
        if not await self._rollout.bot_enabled():
            await self.stand_down(conversation)
            return "skipped: AI broker disabled (humans answer)"
        if await self._rollout.route_of(conversation) != Route.LEGACY:
            return None
        key = greeting_key() if isinstance(job, NewConversationJob) else message_key(job.message_id)
        claim = await self._store.claim_reply(conversation.id, key)  # settled, so the sweeper queues it no more
        if claim.outcome == ClaimOutcome.DONE:
            return "skipped: already answered"
        if claim.outcome == ClaimOutcome.RECLAIMED and (sent := await self._inbox.find_sent_message(
                conversation.inbox_conversation_id, source_tag(conversation.id, key))) is not None:
            await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id)
            return "recovered: aibroker had answered before the rollback"
        await self._store.complete_reply(conversation.id, key, claim.token, state="skipped", note="legacy route")
        if isinstance(job, IncomingMessageJob):  # accepted for aibroker, then rolled back: n8n answers it
            await self.divert(conversation, job.message_id)
            return "diverted to the legacy workflow"
        return "skipped: legacy conversation"

    async def _forward(self, job: ForwardLegacyJob) -> str:
        recorded = await self._forwards.forward_of(job.conversation_id, job.message_id)
        if recorded is None:
            return "skipped: message not recorded"
        body, done = recorded
        if done:
            return "skipped: already forwarded"
        if self._workflow is None:
            raise DependencyUnavailable("n8n", "N8N_AI_BROKER_WEBHOOK_URL is not set")
        if await self._forwards.earlier_unforwarded(job.conversation_id, job.message_id):
            # n8n gets a conversation's messages in the order the customer wrote them: wait (without spending an
            # attempt) while an earlier one is still in its backoff, rather than overtake it.
            raise DependencyUnavailable("n8n", "an earlier message of this conversation is not forwarded yet",
                                        retry_after_s=ORDER_WAIT_S)
        if not body.get("message"):
            body = await self._with_content(job, body)
        try:
            await self._workflow.forward(body)
        except DependencyUnavailable as error:
            await self._forwards.mark_forwarded(job.conversation_id, job.message_id, error=error.reason[:200])
            raise
        await self._forwards.mark_forwarded(job.conversation_id, job.message_id)
        return "forwarded to the legacy workflow"

    async def _with_content(self, job: ForwardLegacyJob, body: dict[str, Any]) -> dict[str, Any]:
        """Messages accepted without their text (the built-in chat, a rolled-back job) read it from the inbox."""
        conversation = await self._store.get_conversation(job.conversation_id)
        if conversation is None:
            return body
        messages = await self._inbox.list_messages(conversation.inbox_conversation_id, limit=100)
        text = next((m.content for m in messages if m.id == job.message_id), "")
        return legacy_body(conversation.inbox_conversation_id, job.message_id, text, body.get("sender"),
                           body.get("conversation"))

    async def on_failed(self, job: Job, reason: str, final: bool) -> bool:
        """True when the failure is the legacy path's (no apology from aibroker: it never spoke)."""
        if isinstance(job, ForwardLegacyJob | ShadowReplyJob):
            if final:
                log.error("job %s failed for good: %s", job.job_id, reason[:200])
            return True
        return False

    async def stand_down(self, conversation: ConversationRecord) -> None:
        """The AI is off: the conversation is left to humans, and the bot says nothing about it."""
        if conversation.owner == Owner.HUMAN:
            return
        await self._assignment.release(conversation, handoff_reason=AI_DISABLED)
        try:  # the inbox first, as a handoff does: agents see it in their open view before we stand down
            await self._inbox.set_status(conversation.inbox_conversation_id, ConversationStatus.OPEN)
        except InboxError as error:
            log.warning("conversation %s left to humans; inbox status unchanged: %s", conversation.id, error)
        await self._store.set_ownership(conversation.id, owner=Owner.HUMAN, status=ConversationStatus.OPEN)

    async def sweep(self, now: datetime | None = None) -> int:
        """Queue again forwards Redis lost, and those that failed for good a while ago: a message is never lost,
        n8n only late. (Adding an existing job id is a no-op; a failed one is replaced.)"""
        now = now or datetime.now(UTC)
        added = 0
        for conversation_id, message_id in await self._forwards.unforwarded(
                received_before=now - GRACE, received_after=now - HORIZON, attempted_before=now - RETRY_FAILED_AFTER):
            added += await self._queue.enqueue(ForwardLegacyJob(conversation_id=conversation_id,
                                                                message_id=message_id))
        return added

    @property
    def workflow(self) -> LegacyWorkflow | None:
        return self._workflow

    @property
    def forwards(self) -> ForwardStore:
        return self._forwards

    async def aclose(self) -> None:
        if self._workflow is not None:
            await self._workflow.aclose()

    async def sweep_periodically(self, stop: asyncio.Event, every_s: float = 5.0) -> None:
        """Run `sweep` until `stop` is set; failures wait for the next round."""
        while not stop.is_set():
            try:
                if added := await self.sweep():
                    log.warning("queued %d legacy forward(s) again", added)
            except Exception as error:  # Redis or the database away: the next round tries again
                log.info("legacy sweep skipped: %s", type(error).__name__)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
