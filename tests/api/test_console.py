"""The console's sign-in and JSON API (issue #12): session cookie + CSRF, the admin token for scripts, the list's
order and clocks, the actions, removed agents, wrong-password limits, and Chatwoot deployments.

The real API under uvicorn on the real database and Redis; no worker runs, so customer messages stay unanswered
(the bot's reply clock keeps running) unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from aibroker.config import Settings
from tests.support.agents import PASSWORD, add_agent, csrf_headers, remove_agent, sign_in
from tests.support.app import ADMIN, LEAD, customer_headers, running_api
from tests.support.chatwoot import chatwoot_stack
from tests.support.db import query

AGENT = "Ann.Lee@Example.com"


@pytest.fixture
def settings(make_settings, e2e_db_url: str) -> Settings:  # type: ignore[no-untyped-def]
    built: Settings = make_settings(e2e_db_url)
    return built


@pytest.fixture
def api(settings: Settings) -> Iterator[httpx.Client]:
    add_agent(settings, AGENT, "Ann Lee")
    with running_api(settings) as client:
        yield client


def _lead(api: httpx.Client, email: str = "kim.ng@example.com", name: str = "Kim Ng") -> dict[str, Any]:
    response = api.post("/api/leads", json={**LEAD, "email": email, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _say(api: httpx.Client, lead: dict[str, Any], text: str) -> None:
    response = api.post(f"/api/conversations/{lead['conversation_id']}/messages", json={"content": text},
                        headers=customer_headers(lead))
    assert response.status_code == 202, response.text


def _row(api: httpx.Client, conversation_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    overview = api.get("/api/console/conversations", headers=headers or {}).json()
    return next(row for row in overview["conversations"] if row["id"] == conversation_id)


def test_sign_in_sets_a_safe_cookie_and_the_page_follows_it(api: httpx.Client) -> None:
    page = api.get("/console")
    assert page.status_code == 200 and 'action="/console/login"' in page.text and "console.js" not in page.text
    assert page.headers["cache-control"] == "no-store"
    wrong = sign_in(api, AGENT, "not the password")
    assert wrong.status_code == 401 and "Wrong e-mail address or password" in wrong.text
    assert "aibroker_console" not in api.cookies

    signed_in = sign_in(api, AGENT.upper())  # the address in any case
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console"
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # plain http here
    page = api.get("/console")
    assert 'src="/static/console.js"' in page.text and "console/login" not in page.text
    me = api.get("/api/console/me").json()
    assert me["kind"] == "agent" and me["name"] == "Ann Lee" and me["email"] == AGENT.lower()
    assert len(me["csrf_token"]) >= 24

    # A form posted from another site is refused even with the right password.
    foreign = api.post("/console/login", data={"email": AGENT, "password": PASSWORD},
                       headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403

    out = api.post("/console/logout", follow_redirects=False)
    assert out.status_code == 303 and "aibroker_console" not in api.cookies
    assert api.get("/api/console/me").status_code == 401


def test_cookie_calls_need_the_csrf_token_and_a_whole_conversation_runs_through_the_api(
        api: httpx.Client, settings: Settings) -> None:
    lead = _lead(api)
    conversation_id = lead["conversation_id"]
    sign_in(api, AGENT)
    takeover = f"/api/console/conversations/{conversation_id}/takeover"
    assert api.post(takeover).status_code == 403
    refused = api.post(takeover, headers={"X-CSRF-Token": "forged"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]
    csrf = csrf_headers(api)

    # Bot-owned, a customer message unanswered (no worker runs): its reply clock runs against the 5 s target.
    _say(api, lead, "What is the TDSR limit?")
    row = _row(api, conversation_id)
    assert row["owner"] == "bot" and row["first_name"] == "Kim" and row["broker"] == lead["broker"]["name"]
    assert row["waiting_since"] is None and row["actions"] == ["takeover", "reply", "resolve"]
    assert row["sla"]["target_ms"] == 5000 and row["sla"]["elapsed_ms"] >= 0
    assert row["sla"]["remaining_ms"] == 5000 - row["sla"]["elapsed_ms"]

    # The agent takes over and replies; the customer sees the reply as a human's.
    detail = api.post(takeover, headers=csrf).json()
    assert detail["owner"] == "human" and detail["status"] == "open" and detail["handoff_reason"] == "agent_took_over"
    reply = api.post(f"/api/console/conversations/{conversation_id}/messages", headers=csrf,
                     json={"content": "Hi Kim, Ann here. The TDSR limit is 55%.", "client_message_id": "r1"})
    assert reply.status_code == 200, reply.text
    again = api.post(f"/api/console/conversations/{conversation_id}/messages", headers=csrf,
                     json={"content": "Hi Kim, Ann here. The TDSR limit is 55%.", "client_message_id": "r1"})
    assert again.status_code == 200  # the same request retried: still one message
    seen = api.get(f"/api/conversations/{conversation_id}/messages", headers=customer_headers(lead)).json()
    humans = [m for m in seen["messages"] if m["role"] == "human"]
    assert [m["content"] for m in humans] == ["Hi Kim, Ann here. The TDSR limit is 55%."]
    events = query(settings, "SELECT payload FROM chat_events WHERE conversation_id = :c AND type = 'message:human'",
                   c=conversation_id)
    assert len(events) == 2 and all(e["payload"] for e in events)  # one per accepted request (the retry too)

    # The customer writes again: now they wait for a human, first in the list; a human reply stops the clock.
    assert _row(api, conversation_id)["waiting_since"] is None
    _lead(api, "other@example.com", "Lee Tan")  # a bot-owned conversation, newer
    _say(api, lead, "And for a car loan too?")
    overview = api.get("/api/console/conversations").json()
    assert overview["waiting"] == 1 and overview["conversations"][0]["id"] == conversation_id
    assert overview["conversations"][0]["waited_s"] >= 0 and overview["conversations"][0]["sla"] is None
    answered = api.post(f"/api/console/conversations/{conversation_id}/messages", headers=csrf,
                        json={"content": "Car loans count too."}).json()
    assert answered["waiting_since"] is None and answered["human_replied_at"] is not None

    # Hand back: the bot owns it again; resolve: it leaves the list.
    back = api.post(f"/api/console/conversations/{conversation_id}/handback", headers=csrf).json()
    assert back["owner"] == "bot" and back["status"] == "pending"
    assert api.post(f"/api/console/conversations/{conversation_id}/handback", headers=csrf).status_code == 409
    done = api.post(f"/api/console/conversations/{conversation_id}/resolve", headers=csrf).json()
    assert done["status"] == "resolved" and done["actions"] == []
    assert conversation_id not in [r["id"] for r in api.get("/api/console/conversations").json()["conversations"]]
    assert any(m["private"] and "Resolved by Ann Lee" in m["content"] for m in done["messages"])


def test_the_admin_token_works_without_cookie_or_csrf_and_nothing_else_does(api: httpx.Client) -> None:
    lead = _lead(api)
    path = f"/api/console/conversations/{lead['conversation_id']}"
    assert api.get("/api/console/conversations").status_code == 401
    assert api.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.get("/api/console/me", headers=ADMIN).json()["kind"] == "admin-token"
    detail = api.get(path, headers=ADMIN).json()
    assert detail["lead"]["email"] == "kim.ng@example.com" and detail["owner"] == "bot"
    assert [m["role"] for m in detail["messages"]] == []  # no worker: not greeted yet
    taken = api.post(f"{path}/takeover", headers=ADMIN)
    assert taken.status_code == 200 and taken.json()["owner"] == "human"
    # Ids are validated like the customer routes', and every error has the one shape.
    for bad, status in (("/api/console/conversations/0", 422), ("/api/console/conversations/2147483648", 422),
                        ("/api/console/conversations/999999", 404)):
        response = api.get(bad, headers=ADMIN)
        assert response.status_code == status and "error" in response.json()
    empty = api.post(f"{path}/messages", headers=ADMIN, json={"content": ""})
    assert empty.status_code == 422 and empty.json()["detail"][0]["field"] == "content"


def test_a_removed_agent_can_neither_use_its_session_nor_sign_in(api: httpx.Client, settings: Settings) -> None:
    assert sign_in(api, AGENT).status_code == 303
    assert api.get("/api/console/me").status_code == 200
    assert remove_agent(settings, AGENT)
    assert api.get("/api/console/me").status_code == 401
    assert api.get("/console").text.count('action="/console/login"') == 1
    assert sign_in(api, AGENT).status_code == 401


def test_an_admin_agent_runs_the_operations_routes_and_other_agents_do_not(api: httpx.Client,
                                                                         settings: Settings) -> None:
    """What the ops page (/console/ops) calls works for an agent added with --admin, signed in at /console: reads
    with the cookie, changes with the CSRF token too, and the rollout audit names the agent. Erasure stays with
    the admin token alone."""
    add_agent(settings, "boss@example.com", "Bea Boss", admin=True)
    assert sign_in(api, AGENT).status_code == 303  # not an admin
    for path in ("/api/admin/analytics?window=1h", "/api/admin/rollout", "/api/admin/queue", "/api/admin/brokers"):
        refused = api.get(path)
        assert refused.status_code == 403 and "admin agent" in refused.json()["error"], path
    api.cookies.clear()
    assert sign_in(api, "boss@example.com").status_code == 303
    for path in ("/api/admin/analytics?window=1h", "/api/admin/rollout", "/api/admin/queue", "/api/admin/brokers"):
        assert api.get(path).status_code == 200, path
    assert api.post("/api/admin/queue/pause").status_code == 403  # the cookie alone cannot change anything
    csrf = csrf_headers(api)
    assert api.post("/api/admin/queue/pause", headers=csrf).json() == {"paused": True}
    assert api.post("/api/admin/queue/resume", headers=csrf).json() == {"paused": False}
    changed = api.put("/api/admin/rollout", headers=csrf, json={"shadow_mode": True})
    assert changed.status_code == 200 and changed.json()["shadow_mode"] is True
    audit = api.get("/api/admin/rollout").json()["audit"]
    assert audit[0]["actor"] == "console:Bea Boss", audit[0]
    assert api.delete("/api/admin/contacts", params={"email": "kim.ng@example.com"}, headers=csrf).status_code == 401


def test_wrong_passwords_are_limited_per_address_and_per_client(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=True,
                                       RATE_LIMIT_CONSOLE_LOGIN_PER_EMAIL="3/minute",
                                       RATE_LIMIT_CONSOLE_LOGIN_PER_IP="5/minute")
    add_agent(settings, AGENT, "Ann Lee")
    with running_api(settings) as api:
        assert sign_in(api, AGENT).status_code == 303  # a right password is not counted
        assert [sign_in(api, AGENT, "wrong").status_code for _ in range(3)] == [401, 401, 401]
        locked = sign_in(api, AGENT)  # over the address's limit: refused, even with the right password
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
        assert "Too many wrong passwords" in locked.text
        # Other addresses from the same client: two more wrong ones reach the client's limit of five.
        assert [sign_in(api, f"guess{i}@example.com", "wrong").status_code for i in range(2)] == [401, 401]
        assert sign_in(api, "guess9@example.com", "wrong").status_code == 429


def test_with_chatwoot_the_console_links_there_and_offers_no_actions(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Any) -> None:
    with chatwoot_stack(make_settings, e2e_db_url, tmp_path, workers=0) as stack:
        lead = stack.api.post("/api/leads", json=LEAD).json()
        overview = stack.api.get("/api/console/conversations", headers=ADMIN).json()
        assert overview["inbox"] == "chatwoot" and overview["actions_available"] is False
        row = overview["conversations"][0]
        inbox_id = stack.inbox_id_of(lead["conversation_id"])
        assert row["chatwoot_url"] == (f"{stack.cw.base_url}/app/accounts/{stack.cw.account_id}"
                                       f"/conversations/{inbox_id}")
        assert row["actions"] == []
        refused = stack.api.post(f"/api/console/conversations/{lead['conversation_id']}/takeover", headers=ADMIN)
        assert refused.status_code == 409 and "Chatwoot" in refused.json()["error"]


def test_session_secret_lets_every_api_process_read_the_session(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                caplog: pytest.LogCaptureFixture) -> None:
    secret = "s" * 40
    shared: Settings = make_settings(e2e_db_url, SESSION_SECRET=secret)
    add_agent(shared, AGENT, "Ann Lee")
    with running_api(shared) as first, running_api(shared) as second, \
            running_api(make_settings(e2e_db_url)) as unset:  # no SESSION_SECRET: a random one of its own
        assert sign_in(first, AGENT).status_code == 303
        cookie = {"aibroker_console": first.cookies["aibroker_console"]}
        assert second.get("/api/console/me", cookies=cookie).json()["name"] == "Ann Lee"
        assert unset.get("/api/console/me", cookies=cookie).status_code == 401
    warnings = [r.getMessage() for r in caplog.records if "SESSION_SECRET is not set" in r.getMessage()]
    assert len(warnings) == 1 and "end when this process restarts" in warnings[0]  # the unset one said so
    with pytest.raises(ValidationError):
        make_settings(e2e_db_url, SESSION_SECRET="too short")
