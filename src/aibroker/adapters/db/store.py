"""SQL repository for conversations, brokers, the reply ledger and webhook receipts.

Each method is one short transaction. Capacity and ledger changes are single guarded statements,
never read-modify-write in Python, so they hold under concurrent workers on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aibroker.adapters.db.capacity import released_for_idleness
from aibroker.adapters.db.completions import (
    COMPLETE_POSTGRESQL,
    COMPLETE_SQLITE,
    Completion,
    claims_json,
    counts,
    events_json,
)
from aibroker.adapters.db.engine import engine_of, one_statement
from aibroker.adapters.db.group_commit import GroupCommit
from aibroker.adapters.db.models import (
    Broker,
    ChatEvent,
    Conversation,
    InboundMessage,
    MessageHistory,
    ReplyLedgerEntry,
    WebhookReceipt,
    utcnow,
)
from aibroker.domain.conversation import (
    BrokerRecord,
    ConversationRecord,
    ConversationStatus,
    HistoryCopy,
    InboundState,
    JobConversation,
    Owner,
)
from aibroker.domain.ledger import ClaimOutcome, LedgerClaim
from aibroker.domain.live_events import MirrorRow


def _conversation(row: Any) -> ConversationRecord:
    """From an ORM row or a Core row of the conversations table (same names)."""
    return ConversationRecord.model_validate(row, from_attributes=True)


_CONVERSATION_COLUMNS = tuple(Conversation.__table__.c)


def _broker(row: Broker) -> BrokerRecord:
    return BrokerRecord.model_validate(row, from_attributes=True)


@dataclass(frozen=True, slots=True)
class _Claim:
    """One `claim_reply` call's new ledger row, waiting for its group commit."""

    conversation_id: int
    key: str
    token: str


class SqlStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._engine = engine_of(sessions)  # (the reply path's methods: Core statements, see engine_of)
        self._one_statement = one_statement(self._engine)
        self._new_claims = _insert_new(self._engine.dialect.name, ReplyLedgerEntry).returning(
            ReplyLedgerEntry.conversation_id, ReplyLedgerEntry.key, ReplyLedgerEntry.claim_token)
        # SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps (1, 2, 5 …
        # 100 ms) rather than queueing, so under load the webhook's writers slept more than they wrote and throughput
        # collapsed. Its writes take turns here instead, in arrival order (another process still meets the handler).
        self._write_turn = asyncio.Lock() if self._engine.dialect.name == "sqlite" else contextlib.nullcontext()
        # Replies finishing (or starting) together share a transaction (adapters/db/group_commit.py).
        self._claims: GroupCommit[_Claim, bool | None] = GroupCommit(self._insert_claims)
        self._completions: GroupCommit[Completion, int] = GroupCommit(self._complete)

    async def _insert_once(self, row: object) -> bool:
        """Insert `row`; False if a unique constraint says it is already there (the idempotency primitive
        behind receipts, the inbound outbox and ledger claims)."""
        async with self.sessions() as session:
            session.add(row)
            try:
                await session.commit()
                return True
            except IntegrityError:
                await session.rollback()
                return False

    # --- conversations -----------------------------------------------------------------------------
    async def create_conversation(self, *, inbox: str, inbox_conversation_id: str, inbox_contact_id: str,
                                  loan_type: str, lead: dict[str, Any], lead_score: int, persona_name: str,
                                  broker_id: int | None, token_hash: str | None = None,
                                  email_hash: str | None = None,
                                  consent_at: datetime | None = None, route: str | None = None) -> ConversationRecord:
        async with self.sessions() as session, session.begin():
            row = Conversation(inbox=inbox, inbox_conversation_id=inbox_conversation_id,
                               inbox_contact_id=inbox_contact_id, loan_type=loan_type, lead=lead,
                               lead_score=lead_score, persona_name=persona_name, broker_id=broker_id,
                               owner=Owner.BOT.value, status=ConversationStatus.PENDING.value,
                               token_hash=token_hash, email_hash=email_hash, consent_at=consent_at, route=route)
            session.add(row)
        return _conversation(row)

    async def get_conversation(self, conversation_id: int) -> ConversationRecord | None:
        async with self._one_statement.connect() as connection:
            row = (await connection.execute(_BY_ID, {"conversation_id": conversation_id})).first()
        return _conversation(row) if row else None

    async def job_conversation(self, conversation_id: int, message_id: str | None = None) -> JobConversation | None:
        """The job's conversation, whether it is greeted and was released for idleness, and (`message_id`) when the
        message was accepted and whether it is answered: one read."""
        query, params = (_JOB_CONVERSATION, {"conversation_id": conversation_id}) if message_id is None else (
            _JOB_CONVERSATION_AND_MESSAGE, {"conversation_id": conversation_id, "message_id": message_id,
                                            "message_key": f"message:{message_id}"})
        async with self._one_statement.connect() as connection:
            row = (await connection.execute(query, params)).first()
        if row is None:
            return None
        inbound = InboundState(received_at=row.received_at, answered=bool(row.answered)) \
            if message_id is not None else None
        return JobConversation(record=_conversation(row), greeted=bool(row.greeted),
                               idle_released=bool(row.idle_released), inbound=inbound)

    async def find_by_inbox_id(self, inbox: str, inbox_conversation_id: str) -> ConversationRecord | None:
        """Every webhook's first read: a prepared Core statement on a bare connection (no Session, no ORM row)."""
        async with self._one_statement.connect() as connection:
            row = (await connection.execute(_BY_INBOX_ID, {"inbox": inbox, "inbox_id": inbox_conversation_id})).first()
        return _conversation(row) if row else None

    async def find_reusable(self, *, inbox: str, inbox_contact_id: str, loan_type: str,
                            since: datetime, token_hash: str) -> ConversationRecord | None:
        """The newest open or pending conversation of this contact and loan type active since `since` whose
        access token has this hash: only the browser holding a conversation's token continues it. (Comparing
        hashes in SQL leaks nothing usable through timing: the hash of a guess says nothing about the token.)"""
        async with self.sessions() as session:
            row = await session.scalar(select(Conversation).where(
                Conversation.inbox == inbox, Conversation.inbox_contact_id == inbox_contact_id,
                Conversation.loan_type == loan_type, Conversation.token_hash == token_hash,
                Conversation.status.in_([ConversationStatus.OPEN.value, ConversationStatus.PENDING.value]),
                Conversation.last_activity_at >= since,
            ).order_by(Conversation.last_activity_at.desc()).limit(1))
            return _conversation(row) if row else None

    async def set_ownership(self, conversation_id: int, *, owner: Owner | None = None,
                            status: ConversationStatus | None = None) -> None:
        values: dict[str, Any] = {}
        if owner is not None:
            values["owner"] = owner.value
        if status is not None:
            values["status"] = status.value
        if owner == Owner.BOT or status == ConversationStatus.RESOLVED:
            values["waiting_since"] = None  # back with the bot, or closed: nobody waits for a human any more
        if values:
            async with self.sessions() as session, session.begin():
                await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(**values))

    async def hand_to_humans(self, conversation_id: int) -> int | None:
        """One guarded UPDATE: of two callers handing off at once, only one gets a handoff number."""
        now = utcnow()
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id, Conversation.owner == Owner.BOT.value)
                .values(owner=Owner.HUMAN.value, status=ConversationStatus.OPEN.value,
                        waiting_since=func.coalesce(Conversation.waiting_since, now),
                        handoff_count=Conversation.handoff_count + 1)
                .returning(Conversation.handoff_count))
            number = result.scalar_one_or_none()
        return None if number is None else int(number)

    async def mark_waiting(self, conversation_id: int) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(_START_WAITING, {"conversation_id": conversation_id, "now": utcnow()})

    async def human_replied(self, conversation_id: int) -> None:
        now = utcnow()
        async with self.sessions() as session, session.begin():
            await session.execute(update(Conversation).where(Conversation.id == conversation_id)
                                  .values(waiting_since=None, human_replied_at=now, last_activity_at=now))

    async def set_broker(self, conversation_id: int, broker_id: int | None) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(Conversation).where(Conversation.id == conversation_id)
                                  .values(broker_id=broker_id))

    # --- brokers -----------------------------------------------------------------------------------
    async def list_brokers(self) -> list[BrokerRecord]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(Broker).order_by(Broker.id))).all()
            return [_broker(row) for row in rows]

    async def broker_by_name(self, name: str) -> BrokerRecord | None:
        async with self.sessions() as session:
            row = await session.scalar(select(Broker).where(Broker.name == name))
            return _broker(row) if row else None

    async def get_broker(self, broker_id: int) -> BrokerRecord | None:
        async with self.sessions() as session:
            row = await session.get(Broker, broker_id)
            return _broker(row) if row else None

    # --- reply ledger ------------------------------------------------------------------------------
    async def claim_reply(self, conversation_id: int, key: str) -> LedgerClaim:
        """Claim the right to answer `key`. A row already sent/skipped means DONE; a row still claimed
        means an earlier attempt died mid-way (BullMQ only runs a job on one worker at a time), so it is
        taken over and the caller must look for our tagged message in the inbox before sending. Claims arriving
        together are inserted in one statement (group commit)."""
        token = uuid.uuid4().hex
        inserted = await self._claims.submit(_Claim(conversation_id, key, token))
        if inserted is None:  # its group was refused (say, a conversation erased meanwhile): alone, as it always was
            inserted = await self._insert_once(ReplyLedgerEntry(conversation_id=conversation_id, key=key,
                                                                claim_token=token))
        if inserted:
            return LedgerClaim(ClaimOutcome.CLAIMED, token, 1)
        # The key has its row already: finished, or an earlier attempt's claim.
        async with self._one_statement.begin() as connection:
            result = await connection.execute(
                update(ReplyLedgerEntry)
                .where(ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.key == key,
                       ReplyLedgerEntry.state == "claimed")
                .values(claim_token=token, attempts=ReplyLedgerEntry.attempts + 1, claimed_at=utcnow())
                .returning(ReplyLedgerEntry.attempts))
            attempts = result.scalar_one_or_none()
        if attempts is None:
            return LedgerClaim(ClaimOutcome.DONE, token, 0)
        return LedgerClaim(ClaimOutcome.RECLAIMED, token, int(attempts))

    async def _insert_claims(self, claims: list[_Claim]) -> list[bool | None]:
        """New claims in one INSERT (claims arriving together: group commit). True for each row inserted, False for
        a key that has its row already (or came twice, to the same claim's earlier twin); None for all if the
        INSERT was refused otherwise (then each is tried alone)."""
        rows = [{"conversation_id": c.conversation_id, "key": c.key, "claim_token": c.token} for c in claims]
        try:
            async with self._one_statement.begin() as connection:
                inserted = {tuple(row) for row in await connection.execute(self._new_claims, rows)}
        except IntegrityError:
            return [None] * len(claims)
        return [(c.conversation_id, c.key, c.token) in inserted for c in claims]

    async def complete_reply(self, conversation_id: int, key: str, token: str, *, state: str = "sent",
                             sent_message_id: str | None = None, note: str | None = None) -> bool:
        """Mark the claim finished; False when another attempt took the claim over meanwhile. A sent message is the
        conversation's latest activity, recorded in the same transaction."""
        return bool(await self.complete_batch(conversation_id, [key], token, state=state,
                                              sent_message_id=sent_message_id, note=note))

    async def ledger_entries(self, conversation_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(ReplyLedgerEntry).where(
                ReplyLedgerEntry.conversation_id == conversation_id).order_by(ReplyLedgerEntry.id))).all()
            return [{"key": r.key, "state": r.state, "attempts": r.attempts, "sent_message_id": r.sent_message_id}
                    for r in rows]

    async def join_batch(self, conversation_id: int, keys: list[str], leader_key: str, token: str) -> list[str]:
        """Claim further customer messages for the leader's reply (a burst answered once).

        Only messages nobody has claimed are taken: a claimed row belongs to its own job (or to that job's
        retry after a crash, which checks the inbox before sending), so taking it over could answer it
        twice. Each new row records the leader, so a retry of any of them looks for the leader's tag.
        """
        return [key for key in keys if await self._insert_once(
            ReplyLedgerEntry(conversation_id=conversation_id, key=key, claim_token=token, reply_key=leader_key))]

    async def adopt_followers(self, conversation_id: int, leader_key: str, token: str) -> list[str]:
        """A leader's retry takes back the messages its dead attempt had joined and left claimed: it answers them
        too. (Otherwise their recovery would find the leader's tag and take them for answered, though the retry's
        reply never saw them.) Followers that answered for themselves meanwhile left the burst (`answer_alone`)."""
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(ReplyLedgerEntry)
                .where(ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.reply_key == leader_key,
                       ReplyLedgerEntry.state == "claimed", ReplyLedgerEntry.claim_token != token)
                .values(claim_token=token)
                .returning(ReplyLedgerEntry.key))
            return [str(key) for key in result.scalars().all()]

    async def settle_followers(self, conversation_id: int, leader_key: str, sent_message_id: str) -> list[str]:
        """The leader's tagged reply is in the inbox, sent by an attempt that died before finishing its claims:
        the messages still claimed for that burst were in it (a retry that sends again adopts them first), so they
        are answered by it. Only for a caller holding the conversation's lock (any other claim is orphaned)."""
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(ReplyLedgerEntry)
                .where(ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.reply_key == leader_key,
                       ReplyLedgerEntry.state == "claimed")
                .values(state="sent", sent_message_id=sent_message_id, completed_at=utcnow())
                .returning(ReplyLedgerEntry.key))
            return [str(key) for key in result.scalars().all()]

    async def take_over_claims(self, conversation_id: int, keys: list[str], leader_key: str,
                               token: str) -> dict[str, str]:
        """Take over, for the leader's reply, the claims on `keys` that other attempts left unfinished. Only for a
        caller holding the conversation's lock: every attempt claims and answers under it, so such a claim belongs
        to an attempt that died (or lost the lock and can no longer send). Returns each key taken with the key whose
        tag its earlier reply would carry (its old burst leader's, or its own), to look for in the inbox."""
        taken: dict[str, str] = {}
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(select(
                ReplyLedgerEntry.key, ReplyLedgerEntry.reply_key, ReplyLedgerEntry.claim_token).where(
                ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.key.in_(keys),
                ReplyLedgerEntry.state == "claimed", ReplyLedgerEntry.claim_token != token))).all()
            for key, old_leader, old_token in rows:
                result = await session.execute(
                    update(ReplyLedgerEntry)
                    .where(ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.key == key,
                           ReplyLedgerEntry.state == "claimed", ReplyLedgerEntry.claim_token == old_token)
                    .values(claim_token=token, reply_key=leader_key, attempts=ReplyLedgerEntry.attempts + 1,
                            claimed_at=utcnow()))
                if getattr(result, "rowcount", 0):
                    taken[str(key)] = str(old_leader or key)
        return taken

    async def answer_alone(self, conversation_id: int, key: str, token: str) -> bool:
        """A reclaimed follower is about to be answered on its own: it leaves its old leader's burst, so the
        leader's retry does not adopt it and its recovery looks for its own tag. False if the claim is lost."""
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(ReplyLedgerEntry)
                .where(ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.key == key,
                       ReplyLedgerEntry.claim_token == token, ReplyLedgerEntry.state == "claimed")
                .values(reply_key=None))
            return bool(getattr(result, "rowcount", 0))

    async def complete_batch(self, conversation_id: int, keys: list[str], token: str, *, state: str = "sent",
                             sent_message_id: str | None = None, note: str | None = None,
                             record_activity: bool = True, mirror: Sequence[MirrorRow] = ()) -> int:
        """Mark these claims finished (see `complete_reply`); returns how many were still this token's.
        `record_activity` False: the sent message need not move the conversation's last activity (the caller knows
        it recent: domain/conversation.py ACTIVITY_RESOLUTION). `mirror`: the reply's analytics rows, written in the
        same transaction (one commit for the ledger and the events), whether or not the claims were still ours.

        Group commit (adapters/db/group_commit.py): completions arriving together are written in one transaction,
        one UPDATE for all their claims, the activity and the events (adapters/db/completions.py: one statement on
        PostgreSQL). If it fails, each of them gets the error (and its job is retried, as for a failure of its
        own)."""
        return await self._completions.submit(Completion(
            conversation_id, keys, token, state, sent_message_id, note, sent_message_id is not None and record_activity,
            mirror))

    async def _complete(self, batch: list[Completion]) -> list[int]:
        """A group of completions: see adapters/db/completions.py."""
        touched = list(dict.fromkeys(c.conversation_id for c in batch if c.activity))
        events = [row for c in batch for row in c.mirror]
        now = utcnow()
        if self._engine.dialect.name == "postgresql":  # one statement, in autocommit
            async with self._one_statement.begin() as connection:
                changed = await connection.execute(COMPLETE_POSTGRESQL, {
                    "claims": claims_json(batch), "touched": json.dumps(touched), "events": events_json(events),
                    "now": now})
                return counts(batch, changed.tuples())
        async with self._engine.begin() as connection:
            changed = await connection.execute(COMPLETE_SQLITE, {"claims": claims_json(batch), "now": now})
            result = counts(batch, changed.tuples())
            if touched:
                await connection.execute(_TOUCH, {"conversation_ids": touched, "now": now})
            if events:
                await connection.execute(_ADD_EVENTS, _mirror_rows(events))
        return result

    async def reply_key_of(self, conversation_id: int, key: str) -> str:
        """The key whose tag the reply to `key` carries: its burst leader's, or its own."""
        async with self.sessions() as session:
            leader = await session.scalar(select(ReplyLedgerEntry.reply_key).where(
                ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.key == key))
        return leader or key

    async def finished_keys(self, conversation_id: int, keys: list[str]) -> set[str]:
        async with self.sessions() as session:
            rows = await session.scalars(select(ReplyLedgerEntry.key).where(
                ReplyLedgerEntry.conversation_id == conversation_id, ReplyLedgerEntry.key.in_(keys),
                ReplyLedgerEntry.state != "claimed"))
            return set(rows.all())

    # --- inbound outbox (accepted customer messages) -------------------------------------------------
    async def record_inbound(self, conversation_id: int, message_id: str, *, copy: HistoryCopy | None = None,
                             events: Sequence[tuple[str, dict[str, Any]]] = (),
                             received_at: datetime | None = None) -> bool:
        """Remember an accepted customer message before queueing it, in one transaction (one commit: one fsync on
        SQLite, where commits are the webhook's limit): the inbound row; the customer's wait if humans own the
        conversation (`mark_waiting`); our history copy of the message (`copy`, kept once); and, the first time
        only, the analytics rows of `events`. True the first time. Core statements on a bare connection: no
        Session or ORM unit of work on the webhook's path (they cost more CPU than the statements)."""
        async with self._write_turn, self._engine.begin() as connection:
            dialect = connection.dialect.name
            first = (await connection.execute(_insert_new(dialect, InboundMessage).returning(InboundMessage.id), {
                "conversation_id": conversation_id, "message_id": message_id,
                "received_at": received_at or utcnow()})).first() is not None
            # A redelivery still starts a wait not running (a human took over since the first delivery).
            await connection.execute(_START_WAITING, {"conversation_id": conversation_id, "now": utcnow()})
            if copy is not None:
                message = copy.message
                await connection.execute(_insert_new(dialect, MessageHistory), {
                    "inbox": copy.inbox, "conversation_id": copy.inbox_conversation_id, "message_id": message.id,
                    "role": message.role.value, "content": message.content, "private": message.private,
                    "source_id": message.source_id, "created_at": message.created_at})
            if first and events:
                await connection.execute(_ADD_EVENTS, _event_rows(conversation_id, events))
        return first

    async def mark_queued(self, conversation_id: int, message_id: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(InboundMessage).where(
                InboundMessage.conversation_id == conversation_id, InboundMessage.message_id == message_id)
                .values(queued_at=utcnow()))

    async def unanswered_inbound(self, *, received_before: datetime, received_after: datetime,
                                 queued_before: datetime | None = None, limit: int = 200) -> list[tuple[int, str, int]]:
        """(conversation, message id, lead score) of accepted customer messages in bot-owned conversations
        that have no finished reply yet: candidates to queue again if Redis lost their job. `queued_before`: only
        those not queued (or swept) since then."""
        query = _unanswered(select(InboundMessage.conversation_id, InboundMessage.message_id, Conversation.lead_score),
                            received_before, received_after)
        if queued_before is not None:
            query = query.where(or_(InboundMessage.queued_at.is_(None), InboundMessage.queued_at < queued_before))
        query = query.limit(limit)
        async with self.sessions() as session:
            return [(int(c), str(m), int(s)) for c, m, s in (await session.execute(query)).all()]

    async def awaiting_reply(self, *, received_after: datetime, received_before: datetime,
                             limit: int = 500) -> list[tuple[int, str, datetime]]:
        """(conversation, message id, received at) of customer messages in bot-owned conversations still waiting
        for their reply (the SLA clock, worker/sla_watch.py)."""
        query = _unanswered(select(InboundMessage.conversation_id, InboundMessage.message_id,
                                   InboundMessage.received_at), received_before, received_after).limit(limit)
        async with self.sessions() as session:
            return [(int(c), str(m), r) for c, m, r in (await session.execute(query)).all()]

    async def unclaimed_inbound(self, conversation_id: int, message_ids: list[str]) -> set[str]:
        """Which of these messages were accepted (recorded inbound) and have no ledger row: nobody has taken them
        on yet. (Messages a human owner's period let through without accepting them are not among them.) On the
        reply path: every reply in a conversation with earlier customer messages asks."""
        async with self._one_statement.connect() as connection:
            rows = await connection.execute(_UNCLAIMED, {"conversation_id": conversation_id,
                                                         "message_ids": message_ids})
            return {str(row) for row in rows.scalars()}

    async def ungreeted(self, *, created_before: datetime, created_after: datetime,
                        limit: int = 200) -> list[tuple[int, int]]:
        """(conversation, lead score) of bot-owned conversations whose greeting was never finished."""
        query = (select(Conversation.id, Conversation.lead_score)
                 .where(Conversation.created_at < created_before, Conversation.created_at > created_after,
                        Conversation.owner == Owner.BOT.value,
                        or_(Conversation.status == ConversationStatus.PENDING.value,
                            Conversation.status == ConversationStatus.OPEN.value),
                        ~_finished(Conversation.id, literal("greeting")))
                 .order_by(Conversation.id).limit(limit))
        async with self.sessions() as session:
            return [(int(c), int(s)) for c, s in (await session.execute(query)).all()]

    # --- webhook receipts and events ---------------------------------------------------------------
    async def first_receipt(self, source: str, event: str, external_id: str) -> bool:
        """True the first time this delivery is seen (deduplication that survives restarts)."""
        return await self._insert_once(WebhookReceipt(source=source, event=event, external_id=external_id))

    async def forget_receipt(self, source: str, event: str, external_id: str) -> None:
        """Undo a receipt whose processing could not be queued, so the sender's retry is accepted."""
        async with self.sessions() as session, session.begin():
            row = await session.scalar(select(WebhookReceipt).where(
                WebhookReceipt.source == source, WebhookReceipt.event == event,
                WebhookReceipt.external_id == external_id))
            if row is not None:
                await session.delete(row)

    async def mark_test(self, conversation_id: int) -> bool:
        """A smoke test's conversation (`aibroker smoke`): analytics leave it out. False if there is none."""
        async with self.sessions() as session, session.begin():
            result = await session.execute(update(Conversation).where(Conversation.id == conversation_id)
                                           .values(is_test=True))
            return bool(getattr(result, "rowcount", 0))

    async def record_mirror(self, rows: Sequence[MirrorRow]) -> None:
        """Analytics rows of already `mirrored` events, any conversations', in one INSERT."""
        if rows:
            async with self._engine.begin() as connection:
                await connection.execute(_ADD_EVENTS, _mirror_rows(rows))

    async def count_events(self, event_type: str) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ChatEvent)
                                            .where(ChatEvent.type == event_type)) or 0)

    async def ping(self) -> None:
        async with self.sessions() as session:
            await session.execute(select(1))


def _finished(conversation_id: Any, key: Any) -> Any:
    """EXISTS: the ledger row of `key` is finished (sent or skipped)."""
    return select(ReplyLedgerEntry.id).where(ReplyLedgerEntry.conversation_id == conversation_id,
                                             ReplyLedgerEntry.key == key, ReplyLedgerEntry.state != "claimed").exists()


# The webhook's and the reply's statements, built once: building one costs more CPU than running it from
# SQLAlchemy's cache (the job's conversation read took ~0.65 ms to build, all of a reply's ~1.5 ms; bench.replypath).
# (An UPDATE's parameters may not be named after its table's columns.)
_BY_ID = select(*_CONVERSATION_COLUMNS).where(Conversation.id == bindparam("conversation_id"))
_JOB_CONVERSATION = select(*_CONVERSATION_COLUMNS, _finished(Conversation.id, literal("greeting")).label("greeted"),
                           released_for_idleness(Conversation.id).label("idle_released")).where(
    Conversation.id == bindparam("conversation_id"))
_JOB_CONVERSATION_AND_MESSAGE = _JOB_CONVERSATION.add_columns(
    select(InboundMessage.received_at).where(InboundMessage.conversation_id == Conversation.id,
                                             InboundMessage.message_id == bindparam("message_id"))
    .scalar_subquery().label("received_at"),
    _finished(Conversation.id, bindparam("message_key")).label("answered"))
_UNCLAIMED = select(InboundMessage.message_id).where(
    InboundMessage.conversation_id == bindparam("conversation_id"),
    InboundMessage.message_id.in_(bindparam("message_ids", expanding=True)),
    ~select(ReplyLedgerEntry.id).where(ReplyLedgerEntry.conversation_id == InboundMessage.conversation_id,
                                       ReplyLedgerEntry.key == literal("message:") + InboundMessage.message_id)
    .exists())
_TOUCH = update(Conversation).where(Conversation.id.in_(bindparam("conversation_ids", expanding=True))).values(
    last_activity_at=bindparam("now"))
_ADD_EVENTS = insert(ChatEvent)
# A guarded UPDATE: the customer's wait for a human starts now, unless the bot owns it or a wait already runs.
_START_WAITING = update(Conversation).where(
    Conversation.id == bindparam("conversation_id"), Conversation.owner == Owner.HUMAN.value,
    Conversation.waiting_since.is_(None)).values(waiting_since=bindparam("now"))
_BY_INBOX_ID = select(Conversation.__table__).where(Conversation.inbox == bindparam("inbox"),
                                                    Conversation.inbox_conversation_id == bindparam("inbox_id"))


def _event_rows(conversation_id: int, events: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """`chat_events` rows of already `mirrored` events, happening now."""
    now = utcnow()
    return _mirror_rows([MirrorRow(conversation_id, event_type, payload, now) for event_type, payload in events])


def _mirror_rows(rows: Sequence[MirrorRow]) -> list[dict[str, Any]]:
    """`chat_events` rows of `MirrorRow`s (each with its conversation and moment)."""
    return [{"conversation_id": row.conversation_id, "type": row.type, "payload": row.payload, "created_at": row.at}
            for row in rows]


def _insert_new(dialect: str, model: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING (the table's unique key): a row already there is no error, so it needs no
    savepoint and does not end the transaction (PostgreSQL aborts one on an IntegrityError)."""
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(model).on_conflict_do_nothing()


def _unanswered(query: Any, received_before: datetime, received_after: datetime) -> Any:
    """Accepted customer messages in bot-owned conversations with no finished reply, oldest first."""
    finished = _finished(InboundMessage.conversation_id, literal("message:") + InboundMessage.message_id)
    return (query.join(Conversation, Conversation.id == InboundMessage.conversation_id)
            .where(InboundMessage.received_at < received_before, InboundMessage.received_at > received_after,
                   Conversation.owner == Owner.BOT.value, ~finished)
            .order_by(InboundMessage.id))
