"""Issue #4 end to end through Chatwoot: the fake Chatwoot HTTP server, our API under uvicorn, and the worker
as its own OS process, all configured by settings alone (CHATWOOT_* as an operator would set them).

Webhooks are signed by the fake exactly as Chatwoot signs them and delivered to `/api/webhooks/chatwoot`.
"Exactly once" is counted in the fake Chatwoot itself: the messages the customer would see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aibroker.config import Settings
from tests.support.app import ADMIN, LEAD, customer_headers, running_workers
from tests.support.chatwoot import (
    Stack,
    bot_replies,
    chatwoot_env,
    chatwoot_stack,
    deliveries_of,
    post_webhook,
    private_notes,
    running_api_for,
    status_of,
)
from tests.support.db import execute, query
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow

MakeSettings = Callable[..., Settings]  # the `make_settings` fixture (tests/conftest.py)
HANDOFF_REQUEST = "can I speak to a real person please"


def _lead(stack: Stack, email: str = "ann.tan@example.com") -> tuple[int, int]:
    """Submit the lead form; wait for the greeting in Chatwoot. Returns (our id, Chatwoot's id)."""
    response = stack.api.post("/api/leads", json={**LEAD, "email": email})
    assert response.status_code == 201, response.text
    conversation_id: int = response.json()["conversation_id"]
    conv = stack.inbox_id_of(conversation_id)
    wait_for(lambda: bot_replies(stack.cw, conv), what="greeting in Chatwoot", timeout_s=30)
    stack.settle()
    return conversation_id, conv


def test_lead_intake_creates_contact_conversation_and_one_greeting(make_settings: MakeSettings, e2e_db_url: str,
                                                                    tmp_path: Path) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        response = stack.api.post("/api/leads", json=LEAD)
        assert response.status_code == 201, response.text
        lead = response.json()
        conv = stack.inbox_id_of(lead["conversation_id"])
        wait_for(lambda: bot_replies(cw, conv), what="greeting in Chatwoot", timeout_s=30)
        counts = stack.settle()

        # The contact and a pending (bot-owned) conversation in our inbox, with the lead as custom attributes.
        contacts = list(cw.state.contacts.values())
        assert [(c.name, c.email, c.phone_number) for c in contacts] == [("Ann Tan", "ann.tan@example.com",
                                                                          "+6591234567")]
        conversation = cw.conversation(conv)
        ours = stack.conversation(lead["conversation_id"])
        assert conversation.inbox_id == cw.inbox_id and conversation.contact_id == contacts[0].id
        assert conversation.status == "pending" and ours["owner"] == "bot" and ours["inbox"] == "chatwoot"
        attributes = conversation.custom_attributes
        assert attributes["lead_score"] == ours["lead_score"]
        assert attributes["broker"] == lead["broker"]["name"] == ours["broker"]["name"]
        assert attributes["loan_type"] == "new_purchase"

        # The greeting: exactly one public outgoing message, tagged as ours, written by the bot token.
        greetings = bot_replies(cw, conv)
        assert len(greetings) == 1, [m.content for m in greetings]
        greeting = greetings[0]
        assert "Ann" in greeting.content and greeting.sender is not None and greeting.sender.kind == "AgentBot"
        assert any(lead["broker"]["name"] in note.content for note in private_notes(cw, conv))  # "X joined"
        assert cw.typing(conv) == ["on", "off"]

        # Its echo came back as a signed message_created webhook, was accepted (200) and ignored.
        echoes = deliveries_of(cw, greeting.id)
        assert len(echoes) == 1 and echoes[0].status == 200
        assert echoes[0].payload["message_type"] == "outgoing"
        assert status_of(post_webhook(stack.api, echoes[0].body)) == "ignored: echo_of_our_message"
        assert all(d.status == 200 for d in cw.webhooks)
        # One job ran (the greeting); neither echo queued anything.
        assert stack.settle() == counts and counts["completed"] == 1 and counts["failed"] == 0

        # The form submitted again by the same browser (its token): the same conversation, still one greeting.
        again = stack.api.post("/api/leads", json=LEAD, headers=customer_headers(lead)).json()
        assert again["reused"] is True and again["conversation_id"] == lead["conversation_id"]
        stack.settle()
        assert len(bot_replies(cw, conv)) == 1 and len(cw.state.conversations) == 1

        # The same e-mail from another browser (no token): the same Chatwoot contact, a new conversation, so
        # agents see both, and the answer says nothing of the first one.
        other = stack.api.post("/api/leads", json={**LEAD, "email": "Ann.Tan@Example.com"}).json()
        assert other["reused"] is False and other["conversation_id"] != lead["conversation_id"]
        assert other["conversation_token"] != lead["conversation_token"]
        other_conv = stack.inbox_id_of(other["conversation_id"])
        assert other_conv != conv and cw.conversation(other_conv).contact_id == contacts[0].id
        assert len(cw.state.contacts) == 1 and len(cw.state.conversations) == 2
        wait_for(lambda: bot_replies(cw, other_conv), what="the new conversation's own greeting", timeout_s=30)
        stack.settle()
        assert len(bot_replies(cw, conv)) == 1 and len(bot_replies(cw, other_conv)) == 1


def test_signed_customer_message_gets_one_paced_reply_even_when_delivered_twice(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    # The one test with pacing on: the greeting choreography and the reply delay are real waits.
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path, PACING_ENABLED=True) as stack:
        cw = stack.cw
        conversation_id, conv = _lead(stack)
        assert cw.typing(conv) == ["on", "off"]  # around the greeting
        cw.faults.duplicate_webhooks = 1  # Chatwoot delivers every webhook twice from now on
        asked = cw.customer_says(conv, "Hi, how much can I borrow for an HDB flat?")
        wait_for(lambda: len(bot_replies(cw, conv)) >= 2, what="reply in Chatwoot", timeout_s=30)
        stack.settle()

        deliveries = deliveries_of(cw, asked.id)
        assert len(deliveries) == 2 and {d.status for d in deliveries} == {200}
        assert deliveries[0].headers["X-Chatwoot-Signature"].startswith("sha256=")
        replies = bot_replies(cw, conv)
        assert len(replies) == 2, [m.content for m in replies]
        reply = replies[-1]
        assert reply.id > asked.id and reply.sender is not None and reply.sender.kind == "AgentBot"
        # Typing went on for the human-like delay and off before the reply was posted.
        assert cw.typing(conv) == ["on", "off", "on", "off"]
        calls = [path for method, path in cw.requests("POST") if path.endswith(("/toggle_typing_status",
                                                                               f"/{conv}/messages"))]
        assert calls[-3:] == [f"/api/v1/accounts/{cw.account_id}/conversations/{conv}/toggle_typing_status"] * 2 \
            + [f"/api/v1/accounts/{cw.account_id}/conversations/{conv}/messages"]
        assert reply.created_at - asked.created_at >= 1.0  # a real delay, not an instant answer
        # The reply's echo (delivered twice too) was ignored.
        echoes = deliveries_of(cw, reply.id)
        assert len(echoes) == 2 and all(d.status == 200 for d in echoes)
        assert status_of(post_webhook(stack.api, echoes[0].body)) == "ignored: echo_of_our_message"

        # Chatwoot redelivers the customer's message later (same delivery id, fresh signature): still one reply.
        again = cw.redeliver(deliveries[0])
        assert again.status == 200
        assert status_of(post_webhook(stack.api, deliveries[0].body)) == "ignored: duplicate delivery"
        stack.settle()
        assert len(bot_replies(cw, conv)) == 2
        rows = query(stack.settings, "SELECT key, state, sent_message_id FROM reply_ledger "
                                     "WHERE conversation_id = :c ORDER BY id", c=conversation_id)
        assert [(r["key"], r["state"]) for r in rows] == [("greeting", "sent"), (f"message:{asked.id}", "sent")]
        assert rows[-1]["sent_message_id"] == str(reply.id)


def test_a_handoff_whose_status_webhook_comes_before_the_status_answer_is_still_noted_once(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    """Chatwoot sends webhooks from a job queue, so the `open` status webhook may reach us before Chatwoot answers the
    status change that caused it. It is the echo of the bot's own handoff, not an agent taking over: the handoff
    still gets its note, attribute and label, and is counted once (a `handoff` event, no `owner:human`)."""
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        conversation_id, conv = _lead(stack)
        # The status change is made at once (its webhook goes out) but answered 3 s later.
        cw.faults.timeout_next(1, seconds=3.0, process=True, method="POST", path=r"/toggle_status$")
        cw.customer_says(conv, HANDOFF_REQUEST)
        wait_for(lambda: [d.event for d in cw.webhooks].count("conversation_status_changed") == 1,
                 what="the status webhook delivered while the status change is unanswered", timeout_s=30)
        stack.settle()
        assert stack.conversation(conversation_id)["owner"] == "human"
        conversation = cw.conversation(conv)
        assert conversation.custom_attributes["handoff_reason"] == "explicit_request"
        assert "human-handoff" in conversation.labels
        assert any("explicit_request" in note.content for note in private_notes(cw, conv))
        events = query(stack.settings, "SELECT type FROM chat_events WHERE conversation_id = :c "
                                       "AND type IN ('handoff', 'owner:human')", c=conversation_id)
        assert [e["type"] for e in events] == ["handoff"]
        assert query(stack.settings, "SELECT handoff_count FROM conversations WHERE id = :c",
                     c=conversation_id)[0]["handoff_count"] == 1


def test_handoff_opens_the_conversation_and_the_bot_stays_silent_until_handed_back(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        conversation_id, conv = _lead(stack)
        cw.customer_says(conv, HANDOFF_REQUEST)
        wait_for(lambda: cw.conversation(conv).status == "open", what="status open in Chatwoot", timeout_s=30)
        stack.settle()

        # Handed to humans: open in Chatwoot, a private note with the reason, owned by humans here.
        assert stack.conversation(conversation_id)["owner"] == "human"
        conversation = cw.conversation(conv)
        assert conversation.custom_attributes["handoff_reason"] == "explicit_request"
        assert "human-handoff" in conversation.labels
        notes = [n.content for n in private_notes(cw, conv)]
        assert any("explicit_request" in note and "real person" in note for note in notes), notes
        assert all((n.source_id or "").startswith("aibroker-note:") for n in private_notes(cw, conv))
        replies = bot_replies(cw, conv)
        assert len(replies) == 2 and "human" in replies[-1].content  # greeting + "I'll bring in a specialist"
        status_webhooks = [d for d in cw.webhooks if d.event == "conversation_status_changed"]
        assert [d.payload["status"] for d in status_webhooks] == ["open"]
        assert all(d.status == 200 for d in cw.webhooks)

        # The customer keeps writing; nobody from the bot answers, and nothing is even queued.
        before = stack.counts()
        waiting = [cw.customer_says(conv, text) for text in ("hello? anyone there?", "what is the BSD on 1.2m")]
        stack.settle()
        time.sleep(0.5)
        stack.settle()
        assert len(bot_replies(cw, conv)) == 2
        assert stack.counts() == before
        assert status_of(post_webhook(stack.api, deliveries_of(cw, waiting[0].id)[0].body)) == \
            "ignored: a human owns the conversation"

        # An operator hands it back (admin API): pending again in Chatwoot, and the bot answers once more.
        assert stack.api.post(f"/api/conversations/{conversation_id}/handback").status_code == 401
        back = stack.api.post(f"/api/conversations/{conversation_id}/handback", headers=ADMIN)
        assert back.status_code == 200 and back.json()["owner"] == "bot" and back.json()["status"] == "pending"
        assert cw.conversation(conv).status == "pending"
        asked = cw.customer_says(conv, "thanks, and what is the BSD on $1,200,000?")
        wait_for(lambda: len(bot_replies(cw, conv)) >= 3, what="reply after handback", timeout_s=30)
        stack.settle()
        replies = bot_replies(cw, conv)
        assert len(replies) == 3 and replies[-1].id > asked.id
        assert stack.conversation(conversation_id)["owner"] == "bot"
        assert cw.conversation(conv).status == "pending"


def test_a_human_agents_public_reply_takes_over_and_the_dashboard_can_hand_back(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        conversation_id, conv = _lead(stack)
        # A private note by an agent changes nothing ...
        note = cw.agent_says(conv, "checking this lead's income docs", private=True)
        stack.settle()
        assert stack.conversation(conversation_id)["owner"] == "bot"
        assert status_of(post_webhook(stack.api, deliveries_of(cw, note.id)[0].body)) == "ignored: private_note"
        # ... a public reply does: the agent owns the conversation now, and Chatwoot shows it as open (in the
        # agents' default view, no longer the bot's pending one).
        reply = cw.agent_says(conv, "Hi Ann, I'm Agent Smith, I'll take it from here.")
        wait_for(lambda: stack.conversation(conversation_id)["owner"] == "human", what="human owner")
        wait_for(lambda: cw.conversation(conv).status == "open", what="open in Chatwoot")
        cw.flush_webhooks()  # the fake records a delivery once our API has answered it, a moment after it acted
        assert status_of(post_webhook(stack.api, deliveries_of(cw, reply.id)[0].body)) == "ignored: duplicate delivery"
        before = stack.counts()
        cw.customer_says(conv, "great, what documents do you need?")
        stack.settle()
        time.sleep(0.5)
        stack.settle()
        assert len(bot_replies(cw, conv)) == 1  # the greeting only: the bot stayed silent
        assert stack.counts() == before

        # The agent hands back in the dashboard by setting it pending: the status webhook gives it to the bot.
        cw.set_status(conv, "pending")
        wait_for(lambda: stack.conversation(conversation_id)["owner"] == "bot", what="bot owner again")
        asked = cw.customer_says(conv, "ok, how long does approval take?")
        wait_for(lambda: len(bot_replies(cw, conv)) >= 2, what="reply after handback", timeout_s=30)
        stack.settle()
        replies = bot_replies(cw, conv)
        assert len(replies) == 2 and replies[-1].id > asked.id


def test_webhook_security_and_malformed_deliveries(make_settings: MakeSettings, e2e_db_url: str,
                                                   tmp_path: Path) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        _, conv = _lead(stack)
        before = stack.counts()
        # A customer message that exists in Chatwoot; its webhook is sent by us, not by the fake.
        message = cw.state.add_message(conv, "what is the TDSR limit?", kind="incoming",
                                       sender=cw.state.contact_actor(cw.state.conversations[conv]))
        with cw.state.lock:
            payload = cw.state.message_webhook(message)
        now = int(time.time())

        forged = post_webhook(stack.api, payload, secret="not-the-secret")
        stale = post_webhook(stack.api, payload, timestamp=now - 600)
        future = post_webhook(stack.api, payload, timestamp=now + 600)
        unsigned = post_webhook(stack.api, payload, secret=None)
        garbage = post_webhook(stack.api, payload, signature="sha256=" + "0" * 64)
        assert [r.status_code for r in (forged, stale, future, unsigned, garbage)] == [401] * 5
        assert "stale" in stale.json()["error"] and "missing" in unsigned.json()["error"]
        # Nothing was recorded or queued, and no reply ever appears.
        stack.settle()
        time.sleep(0.5)
        assert stack.counts() == before
        assert query(stack.settings, "SELECT * FROM inbound_messages") == []
        assert len(bot_replies(cw, conv)) == 1

        # Signed but not JSON → 400; an event we do not handle → 200 and ignored; neither queues anything.
        broken = post_webhook(stack.api, b'{"event": "message_created", "id": ')
        assert broken.status_code == 400 and "malformed JSON" in broken.json()["error"]
        assert status_of(post_webhook(stack.api, {"event": "contact_created", "id": 1, "name": "x"})) == \
            "ignored: unsupported_event"
        not_an_object = post_webhook(stack.api, [1, 2])
        assert not_an_object.status_code == 400 and "JSON object" in not_an_object.json()["error"]
        # A conversation we never saw is adopted only from the configured inboxes (issue #11).
        elsewhere = {**payload, "conversation": {**payload["conversation"], "id": 999, "inbox_id": 999}}
        assert status_of(post_webhook(stack.api, elsewhere)) == "ignored: inbox 999 out of scope"
        assert stack.settle() == before

        # The very same payload, correctly signed, is accepted and answered exactly once.
        assert status_of(post_webhook(stack.api, payload)) == "queued"
        wait_for(lambda: len(bot_replies(cw, conv)) >= 2, what="reply to the signed delivery", timeout_s=30)
        stack.settle()
        assert len(bot_replies(cw, conv)) == 2
        answered = stack.counts()

        # Without a secret, unsigned deliveries are refused ...
        no_secret: Settings = make_settings(e2e_db_url, **chatwoot_env(cw, secret=None))
        with running_api_for(cw, no_secret) as strict:
            assert post_webhook(strict, payload, secret=None).status_code == 401
        # ... unless CHATWOOT_ALLOW_UNSIGNED=true (servers older than 4.12 cannot sign).
        lenient_settings: Settings = make_settings(e2e_db_url, **chatwoot_env(cw, secret=None, allow_unsigned=True))
        with running_api_for(cw, lenient_settings) as lenient:
            assert status_of(post_webhook(lenient, payload, secret=None)) == "ignored: duplicate delivery"
            cw.secret = None  # an old Chatwoot: no signature headers at all
            later = cw.customer_says(conv, "and the MSR?")
            wait_for(lambda: len(bot_replies(cw, conv)) >= 3, what="reply to an unsigned delivery", timeout_s=30)
            cw.flush_webhooks()
            assert "X-Chatwoot-Signature" not in deliveries_of(cw, later.id)[0].headers
            wait_for(lambda: stack.idle(), what="idle")
        assert len(bot_replies(cw, conv)) == 3
        assert stack.counts()["completed"] == answered["completed"] + 1


def test_chatwoot_failing_for_a_while_still_gets_the_reply_out_exactly_once(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        conversation_id, conv = _lead(stack)
        # Posting messages answers 500 four times in a row: more than the adapter's own retries (1 + 3), so the
        # first job attempt fails and the queue's retry gets the reply out.
        cw.faults.fail_next(4, status=500, method="POST", path=rf"/conversations/{conv}/messages$")
        asked = cw.customer_says(conv, "What is the stamp duty on a $900,000 condo?")
        wait_for(lambda: len(bot_replies(cw, conv)) >= 2, what="reply despite 5xx", timeout_s=40)
        counts = stack.settle()

        assert [what for _, _, what in cw.faults.injected] == ["500"] * 4
        replies = bot_replies(cw, conv)
        assert len(replies) == 2 and replies[-1].id > asked.id
        assert cw.typing(conv).count("on") == cw.typing(conv).count("off")
        ledger = query(stack.settings, "SELECT key, state, attempts, sent_message_id FROM reply_ledger "
                                       "WHERE conversation_id = :c ORDER BY id", c=conversation_id)
        assert [(r["key"], r["state"]) for r in ledger] == [("greeting", "sent"), (f"message:{asked.id}", "sent")]
        assert ledger[-1]["attempts"] == 2 and ledger[-1]["sent_message_id"] == str(replies[-1].id)
        assert counts["failed"] == 0 and stack.conversation(conversation_id)["owner"] == "bot"


def test_bot_token_only_answers_from_our_own_history(make_settings: MakeSettings, e2e_db_url: str,
                                                     tmp_path: Path) -> None:
    # The lead arrives through an intake configured with a user token (contacts need one); the API and the
    # worker that talk to customers have only the agent bot's token, which cannot list messages.
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path, workers=0) as intake:
        response = intake.api.post("/api/leads", json=LEAD)
        assert response.status_code == 201, response.text
        conversation_id = response.json()["conversation_id"]
        cw = intake.cw
        conv = intake.inbox_id_of(conversation_id)
        bot_only: Settings = make_settings(e2e_db_url, **chatwoot_env(cw, user_token=False))
        assert bot_only.chatwoot_api_token is None and bot_only.chatwoot_bot_token is not None
        with running_api_for(cw, bot_only) as api, running_workers(bot_only, tmp_path):
            stack = Stack(cw, bot_only, api)
            # Lead intake itself needs a user token: refused clearly, nothing half-created.
            refused = api.post("/api/leads", json={**LEAD, "email": "someone.else@example.com"})
            assert refused.status_code >= 400 and "CHATWOOT_API_TOKEN" in refused.json()["error"]
            assert len(cw.state.contacts) == 1 and len(cw.state.conversations) == 1
            wait_for(lambda: bot_replies(cw, conv), what="greeting", timeout_s=30)
            stack.settle()
            listed = len(cw.requests("GET", "/messages"))
            asked = cw.customer_says(conv, "Hi, what is the maximum LTV for my first loan?")
            wait_for(lambda: len(bot_replies(cw, conv)) >= 2, what="reply", timeout_s=30)
            stack.settle()
            replies = bot_replies(cw, conv)
            assert len(replies) == 2 and replies[-1].id > asked.id
            assert all(m.sender is not None and m.sender.kind == "AgentBot" for m in replies)
            assert len(cw.requests("GET", "/messages")) == listed == 0  # never asked Chatwoot for history
            history = query(bot_only, "SELECT message_id, role, source_id FROM message_history "
                                      "WHERE conversation_id = :c", c=str(conv))
            roles = {row["message_id"]: row["role"] for row in history}
            assert roles[str(asked.id)] == "customer" and roles[str(replies[-1].id)] == "bot"
            assert roles[str(replies[0].id)] == "bot"
            # Our reply's echo is recorded as well: had the answer to our POST been lost (a timeout after
            # Chatwoot stored it), the retry would still find the reply in our history and not send it twice.
            execute(bot_only, "DELETE FROM message_history WHERE message_id = :m", m=str(replies[-1].id))
            for delivery in deliveries_of(cw, replies[-1].id):
                cw.redeliver(delivery)
            echo = wait_for(lambda: query(bot_only, "SELECT role, source_id FROM message_history "
                                                    "WHERE message_id = :m", m=str(replies[-1].id)), what="echo")
            assert echo[0]["role"] == "bot" and echo[0]["source_id"].endswith(":message:" + str(asked.id))
