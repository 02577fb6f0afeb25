"""`send_message(guard=…)`: the caller's fence is checked before every post, the first and each retry, but not
when an earlier attempt's message is found instead. Found by the chaos test: a reply whose POST failed before a
Redis restart was posted again by the adapter's retry after another worker had taken the conversation over."""

from __future__ import annotations

import pytest

from aibroker.errors import DependencyUnavailable
from tests.adapters.inbox.conftest import MakeInbox
from tests.fakes.fake_chatwoot import FakeChatwoot

MESSAGES = r"/messages$"


def _outgoing(fake: FakeChatwoot, conversation: str) -> list[str]:
    return [m.content for m in fake.messages(conversation) if m.kind == "outgoing"]


async def test_the_guard_is_checked_before_every_post(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = str(fake.new_conversation(email="jane@example.com").id)
    checks: list[str] = []

    async def guard() -> None:
        checks.append("ok")

    fake.faults.fail_next(1, status=503, method="POST", path=MESSAGES)
    sent = await make_inbox().send_message(conversation, "Hello", source_id="c:1:message:5", guard=guard)
    assert checks == ["ok", "ok"] and _outgoing(fake, conversation) == ["Hello"]
    # Found by its tag: nothing is posted, so there is nothing to guard.
    again = await make_inbox().send_message(conversation, "Hello", source_id="c:1:message:5", guard=guard)
    assert again.id == sent.id and checks == ["ok", "ok"]


async def test_a_failing_guard_stops_the_retry(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = str(fake.new_conversation(email="jane@example.com").id)
    checks: list[str] = []

    async def guard() -> None:
        checks.append("check")
        if len(checks) > 1:
            raise DependencyUnavailable("conversation lock", "lost while held")

    fake.faults.fail_next(1, status=503, method="POST", path=MESSAGES)
    with pytest.raises(DependencyUnavailable, match="lost while held"):
        await make_inbox().send_message(conversation, "Hello", source_id="c:1:message:6", guard=guard)
    assert len(fake.requests("POST", "/messages")) == 1 and _outgoing(fake, conversation) == []
