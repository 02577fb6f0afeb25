"""Reply-ledger bookkeeping for bursts after a crash (run on SQLite and on PostgreSQL), found by the chaos test:
a leader's retry must answer the messages its dead attempt had joined, and a follower answered on its own must
leave the burst, or one message is taken for answered by a reply that never saw it, or answered twice."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.store import SqlStore
from aibroker.domain.ledger import ClaimOutcome


async def _conversation_id(store: SqlStore) -> int:
    created = await store.create_conversation(inbox="builtin", inbox_conversation_id="1", inbox_contact_id="c1",
                                              loan_type="refinance", lead={"name": "Ann"}, lead_score=50,
                                              persona_name="Sarah Wong", broker_id=None)
    return created.id


async def test_a_leaders_retry_adopts_what_its_dead_attempt_joined(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation_id(store)
    first = await store.claim_reply(conversation, "message:1")
    assert await store.join_batch(conversation, ["message:2", "message:3"], "message:1", first.token) == [
        "message:2", "message:3"]
    # The attempt dies before sending. Its retry takes the leader back, and with it the burst.
    retry = await store.claim_reply(conversation, "message:1")
    assert retry.outcome == ClaimOutcome.RECLAIMED
    assert sorted(await store.adopt_followers(conversation, "message:1", retry.token)) == ["message:2", "message:3"]
    assert await store.adopt_followers(conversation, "message:1", retry.token) == []  # already ours
    assert await store.complete_batch(conversation, ["message:1", "message:2", "message:3"], retry.token,
                                      sent_message_id="50") == 3
    assert await store.adopt_followers(conversation, "message:1", retry.token) == []  # finished rows stay put


async def test_a_follower_answered_alone_leaves_the_burst(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation_id(store)
    leader = await store.claim_reply(conversation, "message:1")
    await store.join_batch(conversation, ["message:2"], "message:1", leader.token)
    # The leader dies; the follower's own job reclaims it and answers it on its own.
    follower = await store.claim_reply(conversation, "message:2")
    assert follower.outcome == ClaimOutcome.RECLAIMED
    assert await store.reply_key_of(conversation, "message:2") == "message:1"
    assert await store.answer_alone(conversation, "message:2", follower.token)
    assert await store.reply_key_of(conversation, "message:2") == "message:2"  # its recovery seeks its own tag
    retry = await store.claim_reply(conversation, "message:1")
    assert await store.adopt_followers(conversation, "message:1", retry.token) == []  # not answered twice
    assert not await store.answer_alone(conversation, "message:2", leader.token)  # a stale claim changes nothing


async def test_a_leaders_sent_reply_settles_the_burst_its_dead_attempt_joined(engine: AsyncEngine) -> None:
    """Seen in the chaos test: the attempt that sent a burst's reply died before finishing its claims, the leader's
    retry found the reply and finished only its own claim, and a follower whose job had already run stayed
    claimed for good."""
    store = SqlStore(session_factory(engine))
    conversation = await _conversation_id(store)
    first = await store.claim_reply(conversation, "message:3")
    await store.join_batch(conversation, ["message:1", "message:2"], "message:3", first.token)
    alone = await store.claim_reply(conversation, "message:2")  # its own job came first, and answered it alone
    await store.answer_alone(conversation, "message:2", alone.token)
    other = await store.claim_reply(conversation, "message:4")  # another burst
    await store.join_batch(conversation, ["message:5"], "message:4", other.token)
    # The attempt sent message:3's reply (tagged message:3) and died; the retry finds it.
    retry = await store.claim_reply(conversation, "message:3")
    assert retry.outcome == ClaimOutcome.RECLAIMED
    assert await store.complete_reply(conversation, "message:3", retry.token, sent_message_id="70")
    assert await store.settle_followers(conversation, "message:3", "70") == ["message:1"]
    entries = {e["key"]: e for e in await store.ledger_entries(conversation)}
    assert entries["message:1"]["state"] == "sent" and entries["message:1"]["sent_message_id"] == "70"
    assert entries["message:2"]["state"] == "claimed"  # left the burst: its own attempt answers it
    assert entries["message:5"]["state"] == "claimed"  # another leader's
    assert await store.settle_followers(conversation, "message:3", "70") == []  # once
