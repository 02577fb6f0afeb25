"""The Chatwoot adapter under failure: retries, Retry-After, timeouts, error classes, the circuit breaker.

Everything goes over real HTTP to the fake Chatwoot; faults are injected by the fake, never by patching.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from aibroker.adapters.inbox.chatwoot import ChatwootInbox
from aibroker.adapters.inbox.chatwoot_http import CircuitOpenError
from aibroker.config import Settings
from aibroker.domain.conversation import ConversationStatus
from aibroker.errors import PermanentInboxError, TransientInboxError
from tests.adapters.inbox.conftest import MakeInbox
from tests.fakes.fake_chatwoot import FakeChatwoot

STATUS = "/toggle_status"


def _conversation(fake: FakeChatwoot) -> str:
    return str(fake.new_conversation(email="jane@example.com").id)


async def test_429_is_retried_after_the_retry_after_delay(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    fake.faults.fail_next(1, status=429, retry_after=1, path=STATUS)
    started = time.monotonic()
    await make_inbox().set_status(conversation, ConversationStatus.OPEN)
    assert time.monotonic() - started >= 1.0  # the backoff alone would have waited ~10 ms
    assert len(fake.requests("POST", STATUS)) == 2
    assert fake.conversation(conversation).status == "open"


async def test_retry_after_beyond_the_limit_is_raised_at_once_for_the_queue(
        fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    fake.faults.fail_next(1, status=429, retry_after=120, path=STATUS)
    with pytest.raises(TransientInboxError) as caught:
        await make_inbox(max_retry_after_s=5).set_status(conversation, ConversationStatus.OPEN)
    assert (caught.value.status, caught.value.retry_after_s) == (429, 120)
    assert len(fake.requests("POST", STATUS)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_then_success(fake: FakeChatwoot, make_inbox: MakeInbox, status: int) -> None:
    conversation = _conversation(fake)
    fake.faults.fail_next(2, status=status, path="/labels")
    await make_inbox().add_labels(conversation, ["hot-lead"])
    assert fake.conversation(conversation).labels == ["hot-lead"]
    assert len(fake.requests(path="/labels")) == 4  # GET fails twice, GET, POST


async def test_server_errors_until_retries_run_out_are_transient(fake: FakeChatwoot,
                                                                 make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    fake.faults.fail_next(10, status=503, path=STATUS)
    with pytest.raises(TransientInboxError) as caught:
        await make_inbox(max_retries=2).set_status(conversation, ConversationStatus.OPEN)
    assert caught.value.status == 503
    assert len(fake.requests("POST", STATUS)) == 3


async def test_timeout_is_transient(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    fake.faults.timeout_next(2, seconds=1.0, path=STATUS)
    with pytest.raises(TransientInboxError) as caught:
        await make_inbox(timeout_s=0.2, max_retries=1).set_status(conversation, ConversationStatus.OPEN)
    assert "timeout" in caught.value.reason and caught.value.status is None


async def test_the_timeout_comes_from_chatwoot_timeout_s(fake: FakeChatwoot) -> None:
    conversation = _conversation(fake)
    settings = Settings(_env_file=None, CHATWOOT_BASE_URL=fake.base_url,  # type: ignore[call-arg]
                        CHATWOOT_ACCOUNT_ID=fake.account_id, CHATWOOT_INBOX_ID=fake.inbox_id,
                        CHATWOOT_API_TOKEN=fake.user_token, CHATWOOT_TIMEOUT_S=0.3)
    inbox = ChatwootInbox.from_settings(settings)
    # Chatwoot answers the first call after 4 s; the default CHATWOOT_TIMEOUT_S is longer than that. (Wide apart, so
    # that a busy machine cannot blur them: the bound below leaves 3 s for one retry.)
    fake.faults.timeout_next(1, seconds=4.0, path=STATUS)
    try:
        started = time.monotonic()
        await inbox.set_status(conversation, ConversationStatus.OPEN)  # timed out once, then retried
        assert time.monotonic() - started < 3.5  # gave up on the slow call long before Chatwoot answered it
        assert len(fake.requests("POST", STATUS)) == 2 and fake.conversation(conversation).status == "open"
    finally:
        await inbox.aclose()


async def test_timeout_then_success(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    fake.faults.timeout_next(1, seconds=1.0, path=STATUS)
    await make_inbox(timeout_s=0.2).set_status(conversation, ConversationStatus.OPEN)
    assert fake.conversation(conversation).status == "open"


async def test_send_that_timed_out_after_chatwoot_processed_it_is_not_sent_twice(
        fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    fake.faults.timeout_next(1, seconds=1.0, process=True, method="POST", path="/messages$")
    sent = await make_inbox(timeout_s=0.3).send_message(conversation, "Hello!", source_id="greeting")
    tagged = [m for m in fake.messages(conversation) if m.source_id == "aibroker:greeting"]
    assert [m.id for m in tagged] == [int(sent.id)]
    assert len(fake.requests("POST", "/messages")) == 1


async def test_connection_refused_is_transient() -> None:
    inbox = ChatwootInbox("http://127.0.0.1:9", 1, 1, "user-token", None, max_retries=1, backoff_base_s=0.01)
    try:
        with pytest.raises(TransientInboxError, match="connection error"):
            await inbox.set_status("1", ConversationStatus.OPEN)
    finally:
        await inbox.aclose()


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_other_client_errors_are_permanent_and_not_retried(fake: FakeChatwoot, make_inbox: MakeInbox,
                                                                 status: int) -> None:
    conversation = _conversation(fake)
    fake.faults.fail_next(1, status=status, path=STATUS)
    with pytest.raises(PermanentInboxError) as caught:
        await make_inbox().set_status(conversation, ConversationStatus.OPEN)
    assert caught.value.status == status
    assert len(fake.requests("POST", STATUS)) == 1


async def test_real_404_and_422_are_permanent(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    inbox = make_inbox()
    with pytest.raises(PermanentInboxError) as missing:
        await inbox.set_status("424242", ConversationStatus.OPEN)
    assert missing.value.status == 404
    conversation = _conversation(fake)
    fake.state.channel = "Channel::WebWidget"  # incoming messages only exist in API inboxes → 422
    with pytest.raises(PermanentInboxError) as refused:
        await inbox.post_customer_message(conversation, "hi")
    assert refused.value.status == 422


async def test_wrong_token_is_permanent(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    with pytest.raises(PermanentInboxError) as caught:
        await make_inbox(api_token=None, bot_token="not-a-token").set_status(conversation,
                                                                             ConversationStatus.OPEN)
    assert caught.value.status == 401
    assert "not-a-token" not in str(caught.value)


async def test_circuit_opens_when_calls_keep_failing_then_half_opens(fake: FakeChatwoot,
                                                                     make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    inbox = make_inbox(max_retries=0, breaker_threshold=3, breaker_reset_s=0.3)
    fake.faults.fail_next(3, status=503)
    for _ in range(3):
        with pytest.raises(TransientInboxError):
            await inbox.set_status(conversation, ConversationStatus.OPEN)
    assert inbox.breaker.state == "open"

    with pytest.raises(CircuitOpenError) as fast:  # fails fast, without calling Chatwoot
        await inbox.set_status(conversation, ConversationStatus.OPEN)
    assert isinstance(fast.value, TransientInboxError) and fast.value.retry_after_s is not None
    assert len(fake.requests("POST", STATUS)) == 3

    await asyncio.sleep(0.35)
    assert inbox.breaker.state == "half_open"
    await inbox.set_status(conversation, ConversationStatus.OPEN)  # the trial call succeeds
    assert inbox.breaker.state == "closed"
    assert fake.conversation(conversation).status == "open"


async def test_failed_trial_reopens_the_circuit(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    inbox = make_inbox(max_retries=0, breaker_threshold=2, breaker_reset_s=0.2)
    fake.faults.fail_next(3, status=500)
    for _ in range(2):
        with pytest.raises(TransientInboxError):
            await inbox.set_typing(conversation, True)
    await asyncio.sleep(0.25)
    with pytest.raises(TransientInboxError) as trial:
        await inbox.set_typing(conversation, True)
    assert not isinstance(trial.value, CircuitOpenError)  # the trial reached Chatwoot and failed
    assert inbox.breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        await inbox.set_typing(conversation, True)
    assert len(fake.requests("POST", "/toggle_typing_status")) == 3


async def test_permanent_errors_do_not_open_the_circuit(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    inbox = make_inbox(breaker_threshold=2)
    for _ in range(4):
        with pytest.raises(PermanentInboxError):
            await inbox.set_status("999", ConversationStatus.OPEN)
    assert inbox.breaker.state == "closed"


async def test_random_faults_are_ridden_out(fake: FakeChatwoot, make_inbox: MakeInbox) -> None:
    conversation = _conversation(fake)
    fake.faults.random_faults(0.3, seed=7)
    inbox = make_inbox(max_retries=6, breaker_threshold=100)
    for number in range(10):
        await inbox.add_labels(conversation, [f"l{number}"])
        await inbox.send_message(conversation, f"reply {number}", source_id=f"reply:{number}")
    assert fake.faults.injected, "the seed should have produced some faults"
    assert fake.conversation(conversation).labels == sorted(f"l{n}" for n in range(10))
    assert [m.content for m in fake.messages(conversation)] == [f"reply {n}" for n in range(10)]
