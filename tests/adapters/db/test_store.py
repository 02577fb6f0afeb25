"""Repository contract, run on SQLite and on PostgreSQL (`db_url` is parametrized over both)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.migrate import migrate, migration_status
from aibroker.adapters.db.models import ChatEvent, Conversation
from aibroker.adapters.db.store import SqlStore
from aibroker.domain.conversation import ConversationStatus, Owner
from aibroker.domain.ledger import ClaimOutcome
from aibroker.domain.live_events import MirrorRow
from aibroker.domain.personas import PERSONAS
from aibroker.domain.privacy import token_hash

TOKEN_HASH = token_hash("the-browser's-token")


async def _conversation(store: SqlStore, inbox_id: str = "1", contact: str = "c1", loan_type: str = "refinance"):
    return await store.create_conversation(inbox="builtin", inbox_conversation_id=inbox_id, inbox_contact_id=contact,
                                           loan_type=loan_type, lead={"name": "Ann"}, lead_score=50,
                                           persona_name="Sarah Wong", broker_id=None, token_hash=TOKEN_HASH)


async def test_migrations_are_current_and_brokers_seeded_once(engine: AsyncEngine) -> None:
    await migrate(engine)  # a second run changes nothing
    status = await migration_status(engine)
    assert status["up_to_date"] and status["current"] == status["head"]
    brokers = await SqlStore(session_factory(engine)).list_brokers()
    assert [b.name for b in brokers] == [p.name for p in PERSONAS]
    assert all(b.current_workload == 0 and b.max_concurrent_chats == 10 and b.is_available for b in brokers)


async def test_conversation_round_trip_and_ownership(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    created = await _conversation(store)
    assert created.owner == Owner.BOT and created.status == ConversationStatus.PENDING
    assert created.created_at.tzinfo is not None
    assert (await store.find_by_inbox_id("builtin", "1")) == created
    await store.set_ownership(created.id, owner=Owner.HUMAN, status=ConversationStatus.OPEN)
    again = await store.get_conversation(created.id)
    assert again is not None and again.owner == Owner.HUMAN and again.status == ConversationStatus.OPEN
    assert await store.get_conversation(999_999) is None


async def test_reusable_conversation_matches_contact_loan_type_token_status_and_window(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    created = await _conversation(store)
    assert created.token_hash == TOKEN_HASH
    now = datetime.now(UTC)
    month = now - timedelta(days=30)
    assert (await store.find_reusable(inbox="builtin", inbox_contact_id="c1", loan_type="refinance",
                                      since=month, token_hash=TOKEN_HASH)) == created
    assert await store.find_reusable(inbox="builtin", inbox_contact_id="c1", loan_type="refinance",
                                     since=month, token_hash=token_hash("another browser's token")) is None
    assert await store.find_reusable(inbox="builtin", inbox_contact_id="c1", loan_type="new_purchase",
                                     since=month, token_hash=TOKEN_HASH) is None
    assert await store.find_reusable(inbox="builtin", inbox_contact_id="c2", loan_type="refinance",
                                     since=month, token_hash=TOKEN_HASH) is None
    assert await store.find_reusable(inbox="builtin", inbox_contact_id="c1", loan_type="refinance",
                                     since=now + timedelta(seconds=5), token_hash=TOKEN_HASH) is None
    await store.set_ownership(created.id, status=ConversationStatus.RESOLVED)
    assert await store.find_reusable(inbox="builtin", inbox_contact_id="c1", loan_type="refinance",
                                     since=month, token_hash=TOKEN_HASH) is None


async def test_reply_ledger_claims_once_then_reports_done(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store)
    first = await store.claim_reply(conversation.id, "message:7")
    assert first.outcome == ClaimOutcome.CLAIMED and first.attempts == 1
    # A retry before completion (the first attempt died): taken over, and told to check the inbox.
    retry = await store.claim_reply(conversation.id, "message:7")
    assert retry.outcome == ClaimOutcome.RECLAIMED and retry.attempts == 2
    # The dead attempt's token no longer completes the claim; the live one does.
    assert not await store.complete_reply(conversation.id, "message:7", first.token, sent_message_id="x")
    assert await store.complete_reply(conversation.id, "message:7", retry.token, sent_message_id="42")
    done = await store.claim_reply(conversation.id, "message:7")
    assert done.outcome == ClaimOutcome.DONE
    assert await store.ledger_entries(conversation.id) == [
        {"key": "message:7", "state": "sent", "attempts": 2, "sent_message_id": "42"}]


async def test_a_later_reply_takes_over_claims_a_dead_attempt_left(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store)
    dead = await store.claim_reply(conversation.id, "message:1")  # its worker died mid-reply
    assert await store.join_batch(conversation.id, ["message:2"], "message:1", dead.token) == ["message:2"]
    finished = await store.claim_reply(conversation.id, "message:0")
    await store.complete_reply(conversation.id, "message:0", finished.token, sent_message_id="5")
    live = await store.claim_reply(conversation.id, "message:3")
    taken = await store.take_over_claims(conversation.id, ["message:0", "message:1", "message:2", "message:3"],
                                         "message:3", live.token)
    # Each with the key its earlier reply would have been tagged with (its old leader's); finished rows and our own
    # claim are left alone.
    assert taken == {"message:1": "message:1", "message:2": "message:1"}
    assert await store.reply_key_of(conversation.id, "message:1") == "message:3"
    assert await store.complete_batch(conversation.id, ["message:1", "message:2", "message:3"], live.token,
                                      sent_message_id="9") == 3
    # The dead attempt's job, resumed later, finds its message answered.
    assert (await store.claim_reply(conversation.id, "message:1")).outcome == ClaimOutcome.DONE


async def test_unclaimed_inbound_lists_accepted_messages_nobody_took_on(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store)
    for message_id in ("1", "2", "3"):
        await store.record_inbound(conversation.id, message_id)
    claim = await store.claim_reply(conversation.id, "message:1")
    await store.complete_reply(conversation.id, "message:1", claim.token, sent_message_id="9")
    await store.claim_reply(conversation.id, "message:2")  # taken on, not finished
    # "4" was never accepted (e.g. written while a human owned the conversation).
    assert await store.unclaimed_inbound(conversation.id, ["1", "2", "3", "4"]) == {"3"}


async def test_concurrent_claims_let_exactly_one_claim_first(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store)
    outcomes = await asyncio.gather(*(store.claim_reply(conversation.id, "greeting") for _ in range(8)))
    assert sum(o.outcome == ClaimOutcome.CLAIMED for o in outcomes) == 1


async def test_webhook_receipts_deduplicate_and_can_be_forgotten(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    assert await store.first_receipt("chatwoot", "message_created", "55")
    assert not await store.first_receipt("chatwoot", "message_created", "55")
    assert await store.first_receipt("chatwoot", "message_updated", "55")
    await store.forget_receipt("chatwoot", "message_created", "55")
    assert await store.first_receipt("chatwoot", "message_created", "55")


async def test_events_of_several_conversations_are_mirrored_in_one_write(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    at = datetime(2026, 12, 3, 22, 30, tzinfo=UTC)
    await store.record_mirror([MirrorRow(1, "message:ai", {"message_id": "9"}, at),
                               MirrorRow(2, "sla", {"level": "warning"}, at + timedelta(seconds=1))])
    await store.record_mirror([])  # (nothing to write: no transaction)
    assert await store.count_events("message:ai") == 1 and await store.count_events("sla") == 1
    async with engine.connect() as connection:
        rows = (await connection.execute(select(ChatEvent.conversation_id, ChatEvent.type, ChatEvent.created_at)
                                         .order_by(ChatEvent.id))).all()
    assert [tuple(row) for row in rows] == [(1, "message:ai", at), (2, "sla", at + timedelta(seconds=1))]


async def test_message_history_orders_numerically_pages_back_and_deduplicates(engine: AsyncEngine) -> None:
    from aibroker.adapters.db.history import SqlMessageHistory
    from aibroker.domain.conversation import ChatMessage, Role

    history = SqlMessageHistory(session_factory(engine), "chatwoot")
    now = datetime.now(UTC)
    for message_id in ("9", "10", "11", "9"):
        await history.record("c1", ChatMessage(id=message_id, role=Role.CUSTOMER, content=f"m{message_id}",
                                               created_at=now, source_id=f"tag-{message_id}"))
    await history.record("c2", ChatMessage(id="12", role=Role.BOT, content="other", created_at=now))
    assert [m.id for m in await history.list_messages("c1")] == ["9", "10", "11"]
    assert [m.id for m in await history.list_messages("c1", before="11")] == ["9", "10"]
    assert [m.id for m in await history.list_messages("c1", limit=2)] == ["10", "11"]
    found = await history.find_by_source_id("c1", "tag-10")
    assert found is not None and found.content == "m10" and found.created_at.tzinfo is not None
    assert await history.find_by_source_id("c2", "tag-10") is None


async def test_recording_a_customer_message_starts_the_wait_only_when_humans_own_the_conversation(
        engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    bot_owned, human_owned = await _conversation(store, "1", "c1"), await _conversation(store, "2", "c2")
    await store.set_ownership(human_owned.id, owner=Owner.HUMAN)
    assert await store.record_inbound(bot_owned.id, "10") is True
    assert await store.record_inbound(human_owned.id, "20") is True
    bot_after, human_after = await store.get_conversation(bot_owned.id), await store.get_conversation(human_owned.id)
    assert bot_after is not None and bot_after.waiting_since is None
    assert human_after is not None and human_after.waiting_since is not None
    # A redelivery is not recorded again, but still starts a wait that is not running (a human took over since).
    await store.human_replied(human_owned.id)
    assert await store.record_inbound(human_owned.id, "20") is False
    again = await store.get_conversation(human_owned.id)
    assert again is not None and again.waiting_since is not None


async def test_a_sent_reply_records_the_conversations_activity_unless_told_it_is_recent(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store)
    long_ago = datetime.now(UTC) - timedelta(days=2)
    async with store.sessions() as session, session.begin():
        await session.execute(update(Conversation).where(Conversation.id == conversation.id)
                              .values(last_activity_at=long_ago))

    async def last_activity() -> datetime:
        record = await store.get_conversation(conversation.id)
        assert record is not None
        return record.last_activity_at.replace(tzinfo=UTC) if record.last_activity_at.tzinfo is None \
            else record.last_activity_at

    first = await store.claim_reply(conversation.id, "message:1")
    await store.complete_batch(conversation.id, ["message:1"], first.token, sent_message_id="8",
                               record_activity=False)
    assert abs((await last_activity() - long_ago).total_seconds()) < 1
    second = await store.claim_reply(conversation.id, "message:2")
    await store.complete_batch(conversation.id, ["message:2"], second.token, sent_message_id="9")
    assert await last_activity() > long_ago + timedelta(days=1)


def _count_transactions(engine: AsyncEngine) -> list[int]:
    """BEGINs on this engine (autocommit's included), counted as they happen."""
    begun = [0]

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(_connection: Any) -> None:
        begun[0] += 1

    return begun


async def test_completions_arriving_together_commit_in_one_transaction_each_with_its_own_count(
        engine: AsyncEngine) -> None:
    """Group commit: six replies finishing at once are written in one transaction (their ledger rows, the
    conversations' last activity, all their analytics rows), and each caller still learns how many of its claims
    were its own: a claim another attempt took over meanwhile counts 0 and is left as it was."""
    store = SqlStore(session_factory(engine))
    conversations = [await _conversation(store, inbox_id=str(i), contact=f"c{i}") for i in range(6)]
    claims = [await store.claim_reply(c.id, "message:1") for c in conversations]
    taken_over = await store.claim_reply(conversations[5].id, "message:1")  # the last one's claim is not its own
    at = datetime.now(UTC)
    begun = _count_transactions(engine)
    counts = await asyncio.gather(*(store.complete_batch(
        c.id, ["message:1"], claim.token, sent_message_id=f"reply-{c.id}",
        mirror=[MirrorRow(c.id, "message:ai", {"n": c.id}, at)])
        for c, claim in zip(conversations, claims, strict=True)))
    assert counts == [1, 1, 1, 1, 1, 0]
    assert begun[0] == 1
    for c in conversations[:5]:
        assert await store.ledger_entries(c.id) == [
            {"key": "message:1", "state": "sent", "attempts": 1, "sent_message_id": f"reply-{c.id}"}]
    assert (await store.ledger_entries(conversations[5].id))[0]["state"] == "claimed"
    assert await store.count_events("message:ai") == 6  # (mirrored whether or not the claims were still ours)
    assert (await store.complete_batch(conversations[5].id, ["message:1"], taken_over.token, sent_message_id="x")) == 1


async def test_a_group_of_completions_is_one_update_and_on_postgresql_one_statement(engine: AsyncEngine) -> None:
    """A group's claims, bursts and all, are completed by one UPDATE; on PostgreSQL the last activity and the
    analytics rows are part of that one statement. Each completion keeps its own state, note and count, the
    activity moves only where asked, and the analytics rows come back as they were given."""
    store = SqlStore(session_factory(engine))
    burst, skipped, sent = [await _conversation(store, inbox_id=str(i), contact=f"c{i}") for i in range(3)]
    leader = await store.claim_reply(burst.id, "message:1")
    assert await store.join_batch(burst.id, ["message:2", "message:3"], "message:1", leader.token) == [
        "message:2", "message:3"]
    skip_claim = await store.claim_reply(skipped.id, "message:1")
    sent_claim = await store.claim_reply(sent.id, "message:1")
    at = datetime(2026, 12, 3, 21, 0, 0, 123456, tzinfo=UTC)
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    counts = await asyncio.gather(
        store.complete_batch(burst.id, ["message:1", "message:2", "message:3"], leader.token, sent_message_id="r1",
                             record_activity=False),
        store.complete_batch(skipped.id, ["message:1"], skip_claim.token, state="skipped", note="human owns it"),
        store.complete_batch(sent.id, ["message:1"], sent_claim.token, sent_message_id="r3",
                             mirror=[MirrorRow(sent.id, "message:ai", {"text": "Hi", "chips": ["a", "b"]}, at),
                                     MirrorRow(sent.id, "typing", {"on": False}, at)]))
    event.remove(engine.sync_engine, "before_cursor_execute", _count)
    assert counts == [3, 1, 1]
    ledger_updates = [s for s in statements if "UPDATE reply_ledger" in s]
    assert len(ledger_updates) == 1
    if engine.dialect.name == "postgresql":
        assert len(statements) == 1
    assert [e["state"] for e in await store.ledger_entries(burst.id)] == ["sent"] * 3
    assert {e["sent_message_id"] for e in await store.ledger_entries(burst.id)} == {"r1"}
    assert await store.ledger_entries(skipped.id) == [
        {"key": "message:1", "state": "skipped", "attempts": 1, "sent_message_id": None}]
    async with engine.connect() as connection:
        notes = (await connection.execute(text("SELECT note FROM reply_ledger WHERE conversation_id = :c"),
                                          {"c": skipped.id})).scalars().all()
        rows = (await connection.execute(select(ChatEvent.type, ChatEvent.payload, ChatEvent.created_at).where(
            ChatEvent.conversation_id == sent.id).order_by(ChatEvent.id))).all()
    assert notes == ["human owns it"]
    assert [tuple(row) for row in rows] == [("message:ai", {"text": "Hi", "chips": ["a", "b"]}, at),
                                            ("typing", {"on": False}, at)]
    after = {c.id: await store.get_conversation(c.id) for c in (burst, skipped, sent)}
    assert after[sent.id].last_activity_at > sent.last_activity_at  # type: ignore[union-attr]
    assert after[burst.id].last_activity_at == burst.last_activity_at  # type: ignore[union-attr]
    assert after[skipped.id].last_activity_at == skipped.last_activity_at  # type: ignore[union-attr]


async def test_claims_arriving_together_are_inserted_in_one_statement_each_with_its_own_outcome(
        engine: AsyncEngine) -> None:
    """Group commit of claims: one INSERT for all of them. A key that has its row already is taken over as before
    (an earlier attempt died), and of two claims of one key in the same group only one is first."""
    store = SqlStore(session_factory(engine))
    conversations = [await _conversation(store, inbox_id=str(i), contact=f"c{i}") for i in range(5)]
    await store.claim_reply(conversations[0].id, "message:1")  # an attempt that died
    inserts: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO reply_ledger"):
            inserts.append(statement)

    outcomes = await asyncio.gather(*(store.claim_reply(c.id, "message:1") for c in conversations),
                                    store.claim_reply(conversations[1].id, "message:1"))
    assert len(inserts) == 1
    assert outcomes[0].outcome == ClaimOutcome.RECLAIMED and outcomes[0].attempts == 2
    assert all(o.outcome == ClaimOutcome.CLAIMED for o in outcomes[2:5])
    twins = (outcomes[1], outcomes[5])
    assert sorted(o.outcome.value for o in twins) == sorted([ClaimOutcome.CLAIMED.value, ClaimOutcome.RECLAIMED.value])
    for c, claim in zip(conversations[2:5], outcomes[2:5], strict=True):
        assert await store.complete_reply(c.id, "message:1", claim.token, sent_message_id="9")


async def test_a_claim_group_refused_for_a_vanished_conversation_claims_the_others_alone(engine: AsyncEngine) -> None:
    """A claim for a conversation erased meanwhile makes its group's INSERT fail (foreign key). The others are then
    claimed one by one, and the vanished one ends as before: nothing to answer."""
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store)
    kept, vanished = await asyncio.gather(store.claim_reply(conversation.id, "message:1"),
                                          store.claim_reply(conversation.id + 1000, "message:1"))
    assert kept.outcome == ClaimOutcome.CLAIMED
    assert vanished.outcome == ClaimOutcome.DONE
    assert (await store.ledger_entries(conversation.id))[0]["state"] == "claimed"


async def test_a_failed_group_commit_fails_every_completion_in_it_and_the_next_ones_are_written(
        engine: AsyncEngine) -> None:
    """One transaction: if it fails, none of its completions is written and every caller gets the error (its job
    is then retried, as for a failure of its own). The writer goes on with what arrives next."""
    store = SqlStore(session_factory(engine))
    first, second = await _conversation(store, "1", "c1"), await _conversation(store, "2", "c2")
    claims = [await store.claim_reply(c.id, "message:1") for c in (first, second)]
    broken = MirrorRow(first.id, None, {}, datetime.now(UTC))  # type: ignore[arg-type]  # (NOT NULL: refused)
    results = await asyncio.gather(
        store.complete_batch(first.id, ["message:1"], claims[0].token, sent_message_id="a", mirror=[broken]),
        store.complete_batch(second.id, ["message:1"], claims[1].token, sent_message_id="b"),
        return_exceptions=True)
    assert all(isinstance(result, IntegrityError) for result in results), results
    assert [(await store.ledger_entries(c.id))[0]["state"] for c in (first, second)] == ["claimed", "claimed"]
    assert await store.complete_batch(second.id, ["message:1"], claims[1].token, sent_message_id="b") == 1
    assert (await store.ledger_entries(second.id))[0]["state"] == "sent"


async def test_an_abandoned_write_is_rolled_back_though_idle_rollbacks_are_skipped(engine: AsyncEngine) -> None:
    """engine.py skips a SQLite rollback when no transaction is open; one that wrote is still undone."""
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store)
    with pytest.raises(RuntimeError):
        async with store.sessions() as session, session.begin():
            await session.execute(update(Conversation).where(Conversation.id == conversation.id)
                                  .values(lead_score=99))
            raise RuntimeError("abandoned mid-way")
    record = await store.get_conversation(conversation.id)
    assert record is not None and record.lead_score != 99


async def test_a_customer_message_its_history_copy_and_its_analytics_row_are_recorded_together_once(
        engine: AsyncEngine) -> None:
    """The webhook's one transaction: a redelivery adds no second copy and no second analytics row, and a copy
    already kept (by an earlier path) does not stop the message being recorded."""
    from aibroker.adapters.db.history import SqlMessageHistory
    from aibroker.domain.conversation import ChatMessage, HistoryCopy, Role

    store, history = SqlStore(session_factory(engine)), SqlMessageHistory(session_factory(engine), "chatwoot")
    conversation = await _conversation(store)
    now = datetime.now(UTC)

    def copy(message_id: str) -> HistoryCopy:
        return HistoryCopy("chatwoot", "c1", ChatMessage(id=message_id, role=Role.CUSTOMER, content=f"m{message_id}",
                                                         created_at=now))

    event = [("message:customer", {"message_id": "10", "role": "customer"})]
    assert await store.record_inbound(conversation.id, "10", copy=copy("10"), events=event) is True
    assert await store.record_inbound(conversation.id, "10", copy=copy("10"), events=event) is False
    await history.record("c1", copy("11").message)
    assert await store.record_inbound(conversation.id, "11", copy=copy("11")) is True
    assert [(m.id, m.content, m.role) for m in await history.list_messages("c1")] == [
        ("10", "m10", Role.CUSTOMER), ("11", "m11", Role.CUSTOMER)]
    assert await store.count_events("message:customer") == 1
    assert set(await store.unclaimed_inbound(conversation.id, ["10", "11"])) == {"10", "11"}
