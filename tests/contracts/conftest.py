"""Backends for the inbox contract: the built-in inbox on a migrated SQLite database, and the Chatwoot
adapter against the fake Chatwoot server. Each backend comes with read-only probes for state the `Inbox`
port cannot read back (status, custom attributes, labels, typing)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.migrate import migrate
from aibroker.adapters.db.models import InboxConversation
from aibroker.adapters.inbox.builtin import BuiltinInbox
from aibroker.adapters.inbox.chatwoot import ChatwootInbox
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.domain.conversation import ConversationStatus
from aibroker.domain.ports import Inbox
from tests.fakes.fake_chatwoot import running_fake_chatwoot


@dataclass
class Backend:
    name: str
    inbox: Inbox
    status: Callable[[str], Awaitable[ConversationStatus]]
    attributes: Callable[[str], Awaitable[dict[str, Any]]]
    labels: Callable[[str], Awaitable[list[str]]]
    typing: Callable[[str], Awaitable[bool]]


async def _builtin(tmp_path: Path, redis_url: str, redis_prefix: str) -> AsyncIterator[Backend]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await migrate(engine)
    sessions = session_factory(engine)
    redis = redis_client(redis_url)
    inbox = BuiltinInbox(sessions, redis, redis_prefix)

    async def row(conversation_id: str) -> InboxConversation:
        async with sessions() as session:
            found = await session.get(InboxConversation, int(conversation_id))
            assert found is not None
            return found

    async def status(conversation_id: str) -> ConversationStatus:
        return ConversationStatus((await row(conversation_id)).status)

    async def attributes(conversation_id: str) -> dict[str, Any]:
        return dict((await row(conversation_id)).attributes)

    async def labels(conversation_id: str) -> list[str]:
        return sorted((await row(conversation_id)).labels)

    try:
        yield Backend("builtin", inbox, status, attributes, labels, inbox.is_typing)
    finally:
        await inbox.aclose()
        await redis.aclose()
        await engine.dispose()


async def _chatwoot() -> AsyncIterator[Backend]:
    with running_fake_chatwoot() as fake:
        inbox = ChatwootInbox(fake.base_url, fake.account_id, fake.inbox_id, fake.user_token, fake.bot_token,
                              timeout_s=5, backoff_base_s=0.01)

        async def status(conversation_id: str) -> ConversationStatus:
            return ConversationStatus(fake.conversation(conversation_id).status)

        async def attributes(conversation_id: str) -> dict[str, Any]:
            return fake.conversation(conversation_id).custom_attributes

        async def labels(conversation_id: str) -> list[str]:
            return sorted(fake.conversation(conversation_id).labels)

        async def typing(conversation_id: str) -> bool:
            toggles = fake.typing(conversation_id)
            return bool(toggles) and toggles[-1] == "on"

        try:
            yield Backend("chatwoot", inbox, status, attributes, labels, typing)
        finally:
            await inbox.aclose()


@pytest.fixture(params=["builtin", "chatwoot"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str,
                  redis_prefix: str) -> AsyncIterator[Backend]:
    source = _builtin(tmp_path, redis_url, redis_prefix) if request.param == "builtin" else _chatwoot()
    async for value in source:
        yield value
