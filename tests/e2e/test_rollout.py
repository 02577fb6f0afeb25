"""Issue #11 end to end: the fake Chatwoot and a fake n8n, our API in a thread, workers as OS processes.

"Exactly once" is counted where the customer would see it: the fake Chatwoot's messages, and the bodies the fake
n8n accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aibroker.config import Settings
from tests.fakes.fake_chatwoot import running_fake_chatwoot
from tests.fakes.fake_n8n import FakeN8n, running_fake_n8n
from tests.support.app import ADMIN, LEAD, running_workers
from tests.support.chatwoot import (
    SECRET,
    Stack,
    bot_replies,
    chatwoot_env,
    chatwoot_stack,
    post_webhook,
    running_api_for,
    status_of,
)
from tests.support.db import query
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow

MakeSettings = Callable[..., Settings]


def _route(stack: Stack, inbox_conversation_id: int) -> dict[str, Any]:
    rows = query(stack.settings, "SELECT id, route, owner, broker_id FROM conversations "
                 "WHERE inbox_conversation_id = :c", c=str(inbox_conversation_id))
    assert len(rows) == 1, rows
    return rows[0]


def _lead(stack: Stack, email: str) -> int:
    """A new person's lead form (a new contact: the same e-mail or phone would reuse their conversation)."""
    phone = "+659" + str(abs(hash(email)) % 10_000_000).zfill(7)
    response = stack.api.post("/api/leads", json={**LEAD, "email": email, "phone": phone})
    assert response.status_code == 201, response.text
    return stack.inbox_id_of(response.json()["conversation_id"])


def _set(stack: Stack, **switches: object) -> dict[str, Any]:
    response = stack.api.put("/api/admin/rollout", json=switches, headers={**ADMIN, "X-Operator": "ops-anna"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _forwarded(n8n: FakeN8n, conv: int) -> list[str]:
    return [str(b["message"]) for b in n8n.received() if b["conversation_id"] == conv]


def test_legacy_conversation_is_forwarded_exactly_once_through_duplicates_and_n8n_failures(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with running_fake_n8n() as n8n, chatwoot_stack(make_settings, e2e_db_url, tmp_path, BULLMQ_ROLLOUT_PERCENTAGE=0,
                                                   N8N_AI_BROKER_WEBHOOK_URL=n8n.url) as stack:
        cw = stack.cw
        conv = _lead(stack, "legacy@example.com")
        assert _route(stack, conv)["route"] == "legacy" and _route(stack, conv)["broker_id"] is None
        cw.faults.duplicate_webhooks = 2  # every webhook delivered three times
        n8n.fail_next(2, status=503)  # n8n fails twice, then recovers (retried with backoff)
        first = cw.customer_says(conv, "hello, what rates do you have?")
        second = cw.customer_says(conv, "and for HDB?")
        wait_for(lambda: len(n8n.received()) >= 2, timeout_s=30, what="both messages forwarded to n8n")
        stack.settle()
        assert _forwarded(n8n, conv) == ["hello, what rates do you have?", "and for HDB?"]
        assert n8n.message_ids() == [str(first.id), str(second.id)] and len(n8n.refused) == 2
        body = n8n.received()[0]
        assert {"conversation_id", "message", "sender", "conversation", "message_id"} <= set(body)
        assert body["sender"]["email"] == "legacy@example.com" and body["conversation"]["id"] == conv
        # Nothing of aibroker's touched it: no greeting, no reply, no typing, no broker slot.
        assert bot_replies(cw, conv) == [] and cw.typing(conv) == []
        assert all(b["current_workload"] == 0 for b in stack.api.get("/api/admin/brokers",
                                                                     headers=ADMIN).json()["brokers"])
        rows = query(stack.settings, "SELECT COUNT(*) AS n FROM legacy_forwards WHERE forwarded_at IS NOT NULL")
        assert rows[0]["n"] == 2


def test_percentage_changes_never_move_a_conversation_and_the_kill_switch_moves_all(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with running_fake_n8n() as n8n, chatwoot_stack(make_settings, e2e_db_url, tmp_path,
                                                   N8N_AI_BROKER_WEBHOOK_URL=n8n.url) as stack:
        cw = stack.cw
        ours = _lead(stack, "first@example.com")  # at 100 %
        wait_for(lambda: bot_replies(cw, ours), timeout_s=30, what="greeting")
        state = _set(stack, rollout_percentage=0)
        assert state["rollout_percentage"] == 0 and state["source"] == "run-time change"
        theirs = _lead(stack, "second@example.com")  # at 0 %
        assert (_route(stack, ours)["route"], _route(stack, theirs)["route"]) == ("aibroker", "legacy")

        cw.customer_says(ours, "what is the TDSR limit?")  # still aibroker's after the change
        wait_for(lambda: len(bot_replies(cw, ours)) >= 2, timeout_s=30, what="aibroker's answer")
        stack.settle()
        assert n8n.received() == [] and bot_replies(cw, theirs) == []

        _set(stack, enable_bullmq_broker=False)  # the rollback: everything to n8n at once
        cw.customer_says(ours, "and the MSR?")
        wait_for(lambda: _forwarded(n8n, ours) == ["and the MSR?"], timeout_s=30, what="forward after kill switch")
        stack.settle()
        assert len(bot_replies(cw, ours)) == 2  # greeting + the first answer, nothing more

        audit = stack.api.get("/api/admin/rollout", headers=ADMIN).json()["audit"]
        assert [a["changes"] for a in audit] == [{"enable_bullmq_broker": [True, False]},
                                                {"rollout_percentage": [100, 0]}]
        assert {a["actor"] for a in audit} == {"api:ops-anna"}
        status = stack.api.get("/api/admin/migration-status", headers=ADMIN).json()
        assert status["switches"]["enable_bullmq_broker"] == {"value": False, "source": "run-time change"}
        assert status["n8n"] == {"configured": True, "reachable": True} and status["schema"]["up_to_date"]
        assert status["workers"]["count"] == 1 and status["queue"]["ok"]
        assert status["last_24h"]["conversations"] == {"aibroker": 1, "legacy": 1}
        assert status["last_24h"]["messages"] == {"aibroker": 1, "legacy": 1}
        assert status["reply_latency_p95_ms_24h"] is not None and status["failure_rate_24h"] == 0
        assert status["recommendations"][0].startswith("rolled back")
        refused = stack.api.put("/api/admin/rollout", json={"rollout_percentage": 150}, headers=ADMIN)
        assert refused.status_code in (400, 422) and "error" in refused.json()
        assert stack.api.put("/api/admin/rollout", json={"shadow_mode": True}).status_code == 401


def test_ai_disabled_sends_nothing_and_leaves_conversations_to_humans(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with running_fake_n8n() as n8n, chatwoot_stack(make_settings, e2e_db_url, tmp_path, ENABLE_AI_BROKER=False,
                                                   N8N_AI_BROKER_WEBHOOK_URL=n8n.url) as stack:
        cw = stack.cw
        conv = _lead(stack, "nobot@example.com")  # the lead form still opens the conversation
        wait_for(lambda: _route(stack, conv)["owner"] == "human", timeout_s=30, what="human owner")
        assert cw.conversation(conv).status == "open"  # left open for agents
        cw.customer_says(conv, "hello?")
        stack.settle()
        assert [m for m in cw.messages(conv) if m.kind == "outgoing"] == [] and n8n.received() == []
        rows = query(stack.settings, "SELECT handoff_reason FROM broker_conversations bc JOIN conversations c "
                     "ON c.id = bc.conversation_id WHERE c.inbox_conversation_id = :c", c=str(conv))
        assert [r["handoff_reason"] for r in rows] in ([], ["ai_disabled"])


def test_shadow_mode_stores_a_never_sent_reply_and_pairs_it_with_the_legacy_one(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with running_fake_n8n() as n8n, chatwoot_stack(make_settings, e2e_db_url, tmp_path, BULLMQ_ROLLOUT_PERCENTAGE=0,
                                                   BULLMQ_SHADOW_MODE=True, N8N_AI_BROKER_WEBHOOK_URL=n8n.url) as stack:
        cw = stack.cw
        conv = _lead(stack, "shadow@example.com")
        asked = cw.customer_says(conv, "what is the LTV limit for a first HDB loan?")
        row_id = _route(stack, conv)["id"]

        def shadows() -> list[dict[str, Any]]:
            return query(stack.settings, "SELECT * FROM shadow_replies WHERE conversation_id = :c", c=row_id)

        wait_for(shadows, timeout_s=30, what="shadow reply stored")
        wait_for(lambda: n8n.received(), timeout_s=30, what="forward to n8n")
        cw.agent_says(conv, "Legacy bot: LTV is 75% for bank loans.")  # n8n answers through the inbox
        wait_for(lambda: shadows()[0]["legacy_reply"], timeout_s=30, what="legacy reply paired")
        stack.settle()
        shadow = shadows()[0]
        assert shadow["message_id"] == str(asked.id) and shadow["reply"] and shadow["latency_ms"] >= 0
        assert shadow["legacy_reply"] == "Legacy bot: LTV is 75% for bank loans."
        assert bot_replies(cw, conv) == []  # never sent
        assert _route(stack, conv)["owner"] == "bot"  # n8n's reply is not a human takeover


def test_adoption_of_inbox_conversations(make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        # A widget visitor: no e-mail, no phone. Greeted, then answered, in that order.
        widget = cw.new_conversation(name="Visitor 42")
        cw.customer_says(widget.id, "hi, can I refinance my HDB loan?")
        wait_for(lambda: len(bot_replies(cw, widget.id)) >= 2, timeout_s=30, what="greeting and answer")
        # An API-channel conversation with lead-form fields in its custom attributes.
        api = cw.new_conversation(name="Cheryl Ong", email="cheryl@example.com", phone="+6598765432",
                                  custom_attributes={"loanType": "new_purchase", "propertyType": "Private",
                                                     "timeline": "this_month", "actualIncomes": [15000]})
        cw.customer_says(api.id, "hello")
        wait_for(lambda: len(bot_replies(cw, api.id)) >= 2, timeout_s=30, what="greeting and answer (API)")
        # An inbox out of scope is ignored.
        other = cw.new_conversation(name="Elsewhere")
        with cw.state.lock:
            cw.state.conversations[other.id].inbox_id = 99
        cw.customer_says(other.id, "hello?")
        stack.settle()

        greeting, answer = bot_replies(cw, widget.id)[:2]
        assert greeting.id < answer.id and len(bot_replies(cw, widget.id)) == 2
        assert _route(stack, widget.id)["route"] == "aibroker" and _route(stack, widget.id)["broker_id"]
        lead = query(stack.settings, "SELECT lead, loan_type, lead_score FROM conversations "
                     "WHERE inbox_conversation_id = :c", c=str(api.id))[0]
        assert lead["loan_type"] == "new_purchase" and lead["lead_score"] > 0
        assert query(stack.settings, "SELECT id FROM conversations WHERE inbox_conversation_id = :c",
                     c=str(other.id)) == []
        assert bot_replies(cw, other.id) == []


def test_a_conversation_that_starts_with_two_messages_at_once_is_adopted_once(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path) as stack:
        cw = stack.cw
        conv = cw.new_conversation(name="Dan Koh", phone="+6590001111")
        with cw.state.lock:  # two messages in Chatwoot before either webhook arrives
            messages = [cw.state.add_message(conv.id, text, kind="incoming",
                                             sender=cw.state.contact_actor(cw.state.conversations[conv.id]))
                        for text in ("hi", "I want to buy a condo, what can I borrow?")]
            payloads = [cw.state.message_webhook(m) for m in messages]
        with ThreadPoolExecutor(max_workers=4) as pool:  # both webhooks at once, each delivered twice
            statuses = list(pool.map(lambda p: status_of(post_webhook(stack.api, p)), payloads * 2))
        assert statuses.count("queued") == 2, statuses
        wait_for(lambda: len(bot_replies(cw, conv.id)) >= 2, timeout_s=30, what="greeting and answer")
        stack.settle()
        assert len(query(stack.settings, "SELECT id FROM conversations WHERE inbox_conversation_id = :c",
                         c=str(conv.id))) == 1
        replies = bot_replies(cw, conv.id)
        assert 2 <= len(replies) <= 3  # the greeting first, then one answer per burst (one or two)
        assert all(m.id > messages[1].id for m in replies)


def test_a_worker_sigkilled_while_forwarding_loses_nothing(make_settings: MakeSettings, e2e_db_url: str,
                                                           tmp_path: Path) -> None:
    with running_fake_n8n() as n8n, chatwoot_stack(make_settings, e2e_db_url, tmp_path, workers=0,
                                                   BULLMQ_ROLLOUT_PERCENTAGE=0,
                                                   N8N_AI_BROKER_WEBHOOK_URL=n8n.url) as stack:
        cw = stack.cw
        conv = _lead(stack, "crash@example.com")
        n8n.hold_next()  # n8n hangs on the first forward ...
        message = cw.customer_says(conv, "are you there?")
        with running_workers(stack.settings, tmp_path, count=1) as (worker,):
            wait_for(lambda: n8n.held, timeout_s=30, what="the forward in flight")
            worker.kill()  # ... and the worker dies mid-request
        n8n.release()
        with running_workers(stack.settings, tmp_path, count=1):  # its job resumes on another worker
            wait_for(lambda: n8n.received(), timeout_s=60, what="the forward after the crash")
            stack.settle()
        # Accepted once. (n8n also saw the attempt that died unanswered: a forward is at least once across a
        # crash mid-request, and `message_id` lets the workflow recognise the repeat.)
        assert n8n.message_ids() == [str(message.id)]
        assert [b["message_id"] for b in n8n.held] == [str(message.id)]
        assert bot_replies(cw, conv) == []


def test_without_an_inbox_id_every_inbox_is_adopted_and_the_lead_form_says_why_it_cannot(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with running_fake_chatwoot(secret=SECRET) as cw:
        env = {**chatwoot_env(cw), "CHATWOOT_INBOX_ID": None}
        settings = make_settings(e2e_db_url, **env)
        with running_api_for(cw, settings) as api, running_workers(settings, tmp_path, count=1):
            conv = cw.new_conversation(name="Wei Ling")
            with cw.state.lock:
                cw.state.conversations[conv.id].inbox_id = 42  # any inbox of the account
            cw.customer_says(conv.id, "hello, is anyone there?")
            wait_for(lambda: len(bot_replies(cw, conv.id)) >= 2, timeout_s=30, what="greeting and answer")
            refused = api.post("/api/leads", json=LEAD)
            assert refused.status_code >= 500 and "CHATWOOT_INBOX_ID" in refused.json()["error"]


def test_a_message_queued_for_aibroker_before_the_rollback_is_answered_by_n8n(
        make_settings: MakeSettings, e2e_db_url: str, tmp_path: Path) -> None:
    with running_fake_n8n() as n8n, chatwoot_stack(make_settings, e2e_db_url, tmp_path, workers=0,
                                                   N8N_AI_BROKER_WEBHOOK_URL=n8n.url) as stack:
        cw = stack.cw
        conv = _lead(stack, "queued@example.com")  # aibroker's; no worker yet, so its jobs wait
        message = cw.customer_says(conv, "what is the stamp duty on a second property?")
        cw.flush_webhooks()
        _set(stack, enable_bullmq_broker=False)
        with running_workers(stack.settings, tmp_path, count=1):
            wait_for(n8n.received, timeout_s=30, what="the queued message forwarded after the rollback")
            stack.settle()
        assert n8n.message_ids() == [str(message.id)]
        assert bot_replies(cw, conv) == []  # not even the greeting: the conversation went to n8n before it
