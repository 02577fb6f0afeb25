"""A running fake Chatwoot per test, and a factory for Chatwoot inboxes pointed at it (fast backoff)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from aibroker.adapters.inbox.chatwoot import ChatwootInbox
from tests.fakes.fake_chatwoot import FakeChatwoot, running_fake_chatwoot

MakeInbox = Callable[..., ChatwootInbox]


@pytest.fixture
def fake() -> Iterator[FakeChatwoot]:
    with running_fake_chatwoot() as server:
        yield server


@pytest.fixture
async def make_inbox(fake: FakeChatwoot) -> AsyncIterator[MakeInbox]:
    made: list[ChatwootInbox] = []

    def build(**overrides: Any) -> ChatwootInbox:
        options: dict[str, Any] = {"base_url": fake.base_url, "account_id": fake.account_id,
                                   "inbox_id": fake.inbox_id, "api_token": fake.user_token,
                                   "bot_token": fake.bot_token, "timeout_s": 2, "backoff_base_s": 0.01}
        options.update(overrides)
        inbox = ChatwootInbox(**options)
        made.append(inbox)
        return inbox

    yield build
    for inbox in made:
        await inbox.aclose()
