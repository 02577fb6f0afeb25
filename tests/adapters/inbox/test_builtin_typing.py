"""The built-in inbox's typing indicator is presence in Redis: it expires on its own, and an unreachable Redis makes
it unknown (a transient inbox error, which the reply path skips and the conversation page shows as null), never a
failed reply or page."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.migrate import migrate
from aibroker.adapters.inbox.builtin import TYPING_TTL_S, BuiltinInbox
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.domain.conversation import ContactInfo
from aibroker.errors import TransientInboxError
from aibroker.usecases.console import typing_of
from tests.support.servers import free_port


async def _inbox_and_conversation(tmp_path: Path, redis_url: str, prefix: str):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await migrate(engine)
    redis = redis_client(redis_url)
    inbox = BuiltinInbox(session_factory(engine), redis, prefix)
    contact = await inbox.find_or_create_contact(ContactInfo(name="Mei", email="mei@example.com"))
    return engine, redis, inbox, await inbox.create_conversation(contact, {})


async def test_typing_expires_by_itself(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    engine, redis, inbox, conversation = await _inbox_and_conversation(tmp_path, redis_url, redis_prefix)
    try:
        await inbox.set_typing(conversation, True)
        keys = [key async for key in redis.scan_iter(match=f"{redis_prefix}:aibroker:typing:*")]
        assert len(keys) == 1
        assert 0 < await redis.ttl(keys[0]) <= TYPING_TTL_S
        await redis.delete(keys[0])  # what the expiry does
        assert await inbox.is_typing(conversation) is False
    finally:
        await redis.aclose()
        await engine.dispose()


async def test_unreachable_redis_makes_typing_unknown_not_an_error(tmp_path: Path) -> None:
    engine, redis, inbox, conversation = await _inbox_and_conversation(
        tmp_path, f"redis://127.0.0.1:{free_port()}/0", "t")
    try:
        # The write and the read at once: each waits out its TYPING_TIMEOUT_S (redis-py retries refused
        # connections), so one after the other the test took twice that.
        stored, shown = await asyncio.gather(inbox.set_typing(conversation, True), typing_of(inbox, conversation),
                                             return_exceptions=True)
        assert isinstance(stored, TransientInboxError), stored
        assert shown is None
    finally:
        await redis.aclose()
        await engine.dispose()
