"""`GET /api/conversations/{id}` says whether the broker is typing (built-in inbox) or that it cannot tell."""

from __future__ import annotations

import asyncio

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.inbox.builtin import BuiltinInbox
from aibroker.adapters.inbox.chatwoot import ChatwootInbox
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.config import Settings
from aibroker.usecases.console import TypingAware, typing_of
from tests.support.app import LEAD, customer_headers, running_api


async def _set_typing(settings: Settings, conversation_id: int, on: bool) -> None:
    """What a worker does while it paces a reply, on the same database as the API."""
    engine = create_engine(settings.sqlalchemy_url)
    assert settings.redis_url is not None
    redis = redis_client(settings.redis_url)
    try:
        sessions = session_factory(engine)
        record = await SqlStore(sessions).get_conversation(conversation_id)
        assert record is not None
        await BuiltinInbox(sessions, redis, settings.queue_prefix).set_typing(record.inbox_conversation_id, on)
    finally:
        await redis.aclose()
        await engine.dispose()


def test_typing_follows_the_builtin_inbox(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url)
    with running_api(settings) as api:
        lead = api.post("/api/leads", json=LEAD).json()
        conversation_id, mine = lead["conversation_id"], customer_headers(lead)
        assert api.get(f"/api/conversations/{conversation_id}", headers=mine).json()["typing"] is False
        asyncio.run(_set_typing(settings, conversation_id, True))
        assert api.get(f"/api/conversations/{conversation_id}", headers=mine).json()["typing"] is True
        asyncio.run(_set_typing(settings, conversation_id, False))
        assert api.get(f"/api/conversations/{conversation_id}", headers=mine).json()["typing"] is False
        schema = api.get("/openapi.json").json()["components"]["schemas"]["ConversationOut"]["properties"]
        assert "typing" in schema


def test_inboxes_that_cannot_tell_give_none() -> None:
    assert issubclass(BuiltinInbox, TypingAware)
    assert not issubclass(ChatwootInbox, TypingAware)
    assert asyncio.run(typing_of(object(), "1")) is None  # type: ignore[arg-type]
