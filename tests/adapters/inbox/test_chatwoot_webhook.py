"""Webhook signature checks and the classification of every event shape Chatwoot sends (CHATWOOT.md §3–4)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from hypothesis import given, settings
from hypothesis import strategies as st

from aibroker.adapters.inbox.chatwoot import ChatwootInbox
from aibroker.adapters.inbox.chatwoot_webhook import Outcome, SignatureError, classify, verify_signature
from aibroker.domain.conversation import ConversationStatus
from tests.fakes.fake_chatwoot import FakeChatwoot, running_fake_chatwoot, serve_in_thread

SECRET = "whsec-test"
NOW = 1_800_000_000.0


def _signed(body: bytes, *, secret: str = SECRET, timestamp: float = NOW) -> dict[str, str]:
    stamp = str(int(timestamp))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Chatwoot-Timestamp": stamp, "X-Chatwoot-Signature": f"sha256={digest}"}


# --- signatures --------------------------------------------------------------------------------------------

BODY = b'{"event":"message_created","content":"caf\xc3\xa9 \\u003cb\\u003e"}'


def test_valid_signature_passes() -> None:
    verify_signature(BODY, _signed(BODY), SECRET, NOW)
    verify_signature(BODY, {k.lower(): v for k, v in _signed(BODY).items()}, SECRET, NOW + 299)


@pytest.mark.parametrize("headers", [
    _signed(BODY, secret="another-secret"),
    _signed(BODY + b" "),  # body changed after signing (e.g. re-serialised JSON)
    {**_signed(BODY), "X-Chatwoot-Signature": _signed(BODY)["X-Chatwoot-Signature"].removeprefix("sha256=")},
    {**_signed(BODY), "X-Chatwoot-Timestamp": str(int(NOW) + 1)},  # timestamp not the one signed
])
def test_forged_signature_is_rejected(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(BODY, headers, SECRET, NOW)


@pytest.mark.parametrize("timestamp", [NOW - 301, NOW + 301])
def test_stale_or_future_timestamp_is_rejected(timestamp: float) -> None:
    with pytest.raises(SignatureError, match="stale"):
        verify_signature(BODY, _signed(BODY, timestamp=timestamp), SECRET, NOW)


@pytest.mark.parametrize("drop", ["X-Chatwoot-Signature", "X-Chatwoot-Timestamp"])
def test_missing_headers_are_rejected(drop: str) -> None:
    headers = {k: v for k, v in _signed(BODY).items() if k != drop}
    with pytest.raises(SignatureError, match="missing"):
        verify_signature(BODY, headers, SECRET, NOW)


def test_non_numeric_timestamp_and_missing_secret() -> None:
    with pytest.raises(SignatureError, match="unix seconds"):
        verify_signature(BODY, {**_signed(BODY), "X-Chatwoot-Timestamp": "yesterday"}, SECRET, NOW)
    with pytest.raises(ValueError):
        verify_signature(BODY, _signed(BODY), "", NOW)


# --- classification table ----------------------------------------------------------------------------------

CONVERSATION = {"id": 12, "inbox_id": 1, "status": "pending", "meta": {"assignee_type": None},
                "channel": "Channel::Api", "messages": [], "labels": []}
CONTACT = {"id": 5, "name": "Jane Tan", "email": "jane@example.com", "phone_number": "+6591234567",
           "identifier": None, "additional_attributes": {}, "custom_attributes": {}}
USER = {"id": 1, "name": "Agent Smith", "email": "agent@example.com", "type": "user"}
BOT = {"id": 7, "name": "aibroker bot", "type": "agent_bot"}
CAPTAIN = {"id": 3, "name": "Captain", "type": "captain_assistant"}


def _message(message_type: Any = "incoming", *, sender: Any = CONTACT, private: bool = False,
             source_id: str | None = None, event: str = "message_created", **extra: Any) -> dict[str, Any]:
    return {"account": {"id": 1, "name": "Acme"}, "content": "Hi, I need a home loan", "content_type": "text",
            "content_attributes": {}, "conversation": copy.deepcopy(CONVERSATION),
            "created_at": "2026-06-17T10:00:00.123Z", "id": 901, "inbox": {"id": 1, "name": "Website"},
            "message_type": message_type, "private": private, "sender": sender, "source_id": source_id,
            "event": event, **extra}


def _status(event: str = "conversation_status_changed", status: str = "open", **extra: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CONVERSATION), "status": status, "updated_at": 1781690400.25,
            "changed_attributes": None, "event": event, **extra}


CASES: list[tuple[str, Any, str, str | None]] = [
    ("incoming string", _message("incoming"), "customer_message", None),
    ("incoming int", _message(0), "customer_message", None),
    ("incoming numeric string", _message("0"), "customer_message", None),
    ("incoming with attachments only", _message("incoming", content=None, attachments=[{"id": 1}]),
     "customer_message", None),
    ("our echo, string type", _message("outgoing", sender=BOT, source_id="aibroker:reply:1"), "ignored",
     "echo_of_our_message"),
    ("our echo, int type, sent with a user token", _message(1, sender=USER, source_id="aibroker:reply:1"),
     "ignored", "echo_of_our_message"),
    ("agent bot without our tag", _message("outgoing", sender=BOT), "ignored", "echo_of_our_message"),
    ("our private note", _message("outgoing", sender=BOT, private=True, source_id="aibroker-note:ab12"),
     "ignored", "echo_of_our_message"),
    ("human public reply", _message("outgoing", sender=USER), "human_reply", None),
    ("human reply, int type", _message(1, sender=USER), "human_reply", None),
    ("human private note", _message("outgoing", sender=USER, private=True), "ignored", "private_note"),
    ("activity string", _message("activity", sender=None), "ignored", "activity"),
    ("activity int", _message(2, sender=None), "ignored", "activity"),
    ("template string", _message("template", sender=None), "ignored", "template"),
    ("template int", _message(3, sender=None), "ignored", "template"),
    ("captain reply", _message("outgoing", sender=CAPTAIN), "ignored", "bot_sender"),
    ("automation without sender", _message("outgoing", sender=None), "ignored", "bot_sender"),
    ("message_updated", _message("incoming", event="message_updated"), "ignored", "message_updated"),
    ("conversation_created", {**_status(), "event": "conversation_created"}, "ignored", "unsupported_event"),
    ("contact_created", {"event": "contact_created", "id": 5}, "ignored", "unsupported_event"),
    ("typing", {"event": "conversation_typing_on", "user": BOT, "conversation": CONVERSATION}, "ignored",
     "unsupported_event"),
    ("status changed", _status(), "status_changed", None),
    ("conversation_opened (agent bots)", _status("conversation_opened"), "status_changed", None),
    ("conversation_resolved", _status("conversation_resolved", "resolved"), "status_changed", None),
    ("conversation_updated with status", _status("conversation_updated", changed_attributes=[
        {"status": {"previous_value": "pending", "current_value": "open"}}]), "status_changed", None),
    ("conversation_updated without status", _status("conversation_updated", changed_attributes=[
        {"labels": {"previous_value": [], "current_value": ["x"]}}]), "ignored", "no_status_change"),
    ("not an object", [1, 2], "ignored", "malformed: body is not a JSON object"),
    ("no event", {"id": 1}, "ignored", "malformed: no event"),
    ("no message id", _message(id=None), "ignored", "malformed: message id"),
    ("no conversation", _message(conversation=None), "ignored", "malformed: conversation"),
    ("unknown message_type", _message("weird"), "ignored", "malformed: message_type"),
    ("out-of-range message_type", _message(7), "ignored", "malformed: message_type"),
    ("boolean message_type", _message(True), "ignored", "malformed: message_type"),
    ("bad status", _status(status="archived"), "ignored", "malformed: status"),
    ("status without id", _status(id=None), "ignored", "malformed: conversation id"),
]


@pytest.mark.parametrize(("payload", "outcome", "reason"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_classify(payload: Any, outcome: str, reason: str | None) -> None:
    decision = classify(payload)
    assert (decision.outcome.value, decision.reason) == (outcome, reason)


def test_customer_message_carries_what_the_worker_needs() -> None:
    decision = classify(_message("incoming"))
    assert decision.outcome is Outcome.CUSTOMER_MESSAGE
    assert (decision.conversation_id, decision.message_id, decision.content) == ("12", "901",
                                                                               "Hi, I need a home loan")
    assert decision.sender is not None
    assert (decision.sender.id, decision.sender.type, decision.sender.email) == ("5", "contact",
                                                                                 "jane@example.com")
    assert decision.status is ConversationStatus.PENDING and decision.dedupe_key == "message_created:901"
    assert decision.created_at is not None and decision.created_at.year == 2026
    assert "jane@example.com" not in repr(decision) and "home loan" not in repr(decision)


def test_status_decision_and_dedupe_keys() -> None:
    opened = classify(_status(meta={"assignee_type": "User"}))
    assert (opened.status, opened.conversation_id, opened.assignee_type) == (
        ConversationStatus.OPEN, "12", "User")
    assert classify(_status()).dedupe_key == opened.dedupe_key  # a redelivery
    assert classify(_status(updated_at=1781690500.5)).dedupe_key != opened.dedupe_key  # a later change
    assert classify(_message(id=902)).dedupe_key != classify(_message()).dedupe_key


def test_recorded_message_ids_identify_echoes_whose_tag_was_overwritten() -> None:
    payload = _message("outgoing", sender=USER, source_id="wamid.HBgM")  # WhatsApp replaced our source_id
    assert classify(payload).outcome is Outcome.HUMAN_REPLY
    assert classify(payload, own_message_ids={"901"}).reason == "echo_of_our_message"


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(payload=st.one_of(JSON, st.fixed_dictionaries(
    {"event": st.sampled_from(["message_created", "conversation_updated", "conversation_status_changed"]),
     "id": JSON, "message_type": JSON, "conversation": JSON, "sender": JSON, "private": JSON, "status": JSON,
     "changed_attributes": JSON, "created_at": JSON, "source_id": JSON})))
def test_classify_never_raises(payload: Any) -> None:
    assert classify(payload).outcome in set(Outcome)


# --- end to end: the fake's real, signed deliveries --------------------------------------------------------

@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    app = FastAPI()

    @app.post("/api/webhooks/chatwoot")
    async def hook(request: Request) -> dict[str, bool]:
        received.append((dict(request.headers), await request.body()))
        return {"ok": True}

    with serve_in_thread(app) as url:
        yield f"{url}/api/webhooks/chatwoot", received


async def test_fake_deliveries_verify_and_classify(
        receiver: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    url, received = receiver
    with running_fake_chatwoot(webhook_url=url, secret=SECRET) as fake:
        conversation = fake.new_conversation(email="jane@example.com").id
        inbox = ChatwootInbox(fake.base_url, fake.account_id, fake.inbox_id, fake.user_token, fake.bot_token)
        try:
            fake.customer_says(conversation, "Hi <there> & hello")
            await inbox.send_message(str(conversation), "Hello Jane", source_id="reply:1")
            await inbox.post_activity(str(conversation), "note for agents")
            fake.agent_says(conversation, "Agent here")
            fake.agent_says(conversation, "internal", private=True)
            await inbox.set_status(str(conversation), ConversationStatus.OPEN)
            fake.flush_webhooks()
        finally:
            await inbox.aclose()
    decisions = []
    for headers, body in received:
        verify_signature(body, headers, SECRET, time.time())
        assert b"<" not in body  # Rails escapes < > & in JSON
        decisions.append(classify(json.loads(body)))
    assert [(d.outcome.value, d.reason) for d in decisions] == [
        ("customer_message", None), ("ignored", "echo_of_our_message"), ("ignored", "echo_of_our_message"),
        ("human_reply", None), ("ignored", "private_note"), ("status_changed", None),
        ("status_changed", None)]
    assert decisions[0].content == "Hi <there> & hello"


async def test_duplicate_delivery_has_the_same_dedupe_key(
        receiver: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    url, received = receiver
    with running_fake_chatwoot(webhook_url=url, secret=SECRET) as fake:
        fake.faults.duplicate_webhooks = 1
        conversation = fake.new_conversation().id
        fake.customer_says(conversation, "hello")
        fake.flush_webhooks()
        assert len(fake.webhooks) == 2
        assert len({d.headers["X-Chatwoot-Delivery"] for d in fake.webhooks}) == 1
    keys = [classify(json.loads(body)).dedupe_key for _, body in received]
    assert keys == ["message_created:1", "message_created:1"]


def test_unsigned_deliveries_from_old_servers_have_no_signature_headers(fake: FakeChatwoot) -> None:
    fake.customer_says(fake.new_conversation().id, "hello")
    assert fake.emitted and fake.emitted[0]["event"] == "message_created"
    assert fake.webhooks == []  # no webhook_url configured: nothing delivered
