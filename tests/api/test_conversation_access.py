"""Private conversations (issue #10 items 1, 2, 4): access tokens, reuse without leaks, consent.

The real API under uvicorn on the real database and Redis; no worker runs, so every queued job stays countable.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aibroker.adapters.queue.embedded_redis import EmbeddedRedis
from aibroker.api.app import create_app
from aibroker.api.deps import CustomerConversationStream
from aibroker.config import ConfigurationError, Settings, load_settings
from tests.support.app import ADMIN, LEAD, customer_headers, running_api
from tests.support.db import query
from tests.support.servers import free_port, serve_in_thread

LEADS = 3


@pytest.fixture
def settings(make_settings, e2e_db_url: str) -> Settings:  # type: ignore[no-untyped-def]
    built: Settings = make_settings(e2e_db_url)
    return built


@pytest.fixture
def api(settings: Settings) -> Iterator[httpx.Client]:
    with running_api(settings) as client:
        yield client


def _lead(api: httpx.Client, email: str, headers: dict[str, str] | None = None, **change: Any) -> dict[str, Any]:
    response = api.post("/api/leads", json={**LEAD, "email": email, **change}, headers=headers or {})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _queued(api: httpx.Client) -> int:
    counts = api.get("/api/health", headers=ADMIN).json()["parts"]["queue"]["counts"]
    return sum(counts.get(state, 0) for state in ("waiting", "prioritized", "delayed", "active"))


def _customer_messages(settings: Settings) -> int:
    return int(query(settings, "SELECT count(*) AS n FROM inbox_messages WHERE role = 'customer'")[0]["n"])


def _answers(api: httpx.Client, conversation_id: int, headers: dict[str, str]) -> list[tuple[int, bytes, str]]:
    """What each customer route says to these credentials: (status, body bytes, content type)."""
    calls = [api.get(f"/api/conversations/{conversation_id}", headers=headers),
             api.get(f"/api/conversations/{conversation_id}/messages", headers=headers),
             api.post(f"/api/conversations/{conversation_id}/messages", headers=headers,
                      json={"content": "what is my income?", "client_message_id": "probe"})]
    return [(r.status_code, r.content, r.headers.get("content-type", "")) for r in calls]


def test_ids_cannot_be_probed_without_the_conversation_token(api: httpx.Client, settings: Settings) -> None:
    leads = [_lead(api, f"probe{i}@example.com") for i in range(LEADS)]
    ids = [lead["conversation_id"] for lead in leads]
    queued, stored = _queued(api), _customer_messages(settings)
    assert queued == LEADS and stored == 0  # one greeting each, nothing else
    missing = _answers(api, max(ids) + 1000, {})
    assert {status for status, _, _ in missing} == {404}
    assert {body for _, body, _ in missing} == {b'{"error":"conversation not found"}'}

    for conversation_id in range(1, max(ids) + 6):
        others = [lead for lead in leads if lead["conversation_id"] != conversation_id]
        for headers in ({}, {"X-Conversation-Token": "garbage"}, customer_headers(others[0]),
                        {"X-Conversation-Token": others[-1]["conversation_token"] + "x"},
                        {"Authorization": "Bearer wrong-admin-token"}):
            assert _answers(api, conversation_id, headers) == missing, (conversation_id, headers)
    # Out-of-range ids are malformed (422) for every caller alike, so they tell nothing either; never a 500.
    for out_of_range in (2**63, 2**31, 0):
        assert {status for status, _, _ in _answers(api, out_of_range, {})} == {422}

    assert _queued(api) == queued and _customer_messages(settings) == stored  # nothing posted, nothing queued


def test_the_right_token_and_the_admin_token_open_the_conversation(api: httpx.Client) -> None:
    lead, other = _lead(api, "ann@example.com"), _lead(api, "bo@example.com")
    conversation_id, mine = lead["conversation_id"], customer_headers(lead)
    assert api.get(f"/api/conversations/{conversation_id}", headers=mine).json()["id"] == conversation_id
    posted = api.post(f"/api/conversations/{conversation_id}/messages", json={"content": "hello"}, headers=mine)
    assert posted.status_code == 202, posted.text
    for headers in (mine, ADMIN, {"X-Admin-Token": "test-admin-token"}):
        listed = api.get(f"/api/conversations/{conversation_id}/messages", headers=headers)
        assert [m["content"] for m in listed.json()["messages"] if m["role"] == "customer"] == ["hello"]
    # Each token opens its own conversation only.
    assert api.get(f"/api/conversations/{other['conversation_id']}/messages",
                   headers=customer_headers(other)).json()["messages"] == []
    # Handoff stays the operators' alone: a customer token is not enough.
    assert api.post(f"/api/conversations/{conversation_id}/handoff", headers=mine).status_code == 401


def test_the_token_is_random_enough_and_only_its_hash_is_stored(api: httpx.Client, settings: Settings) -> None:
    lead = _lead(api, "Ann.Tan@Example.com")
    token = lead["conversation_token"]
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128
    assert _lead(api, "other@example.com")["conversation_token"] != token
    rows = query(settings, "SELECT * FROM conversations WHERE id = :c", c=lead["conversation_id"])
    assert len(rows) == 1
    row = rows[0]
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["email_hash"] == hashlib.sha256(b"ann.tan@example.com").hexdigest()
    lead_form = json.loads(row["lead"]) if isinstance(row["lead"], str) else row["lead"]  # SQLite: JSON text
    assert row["consent_at"] is not None and lead_form["consent"] is True
    # The token itself is nowhere in the database.
    for table in ("conversations", "chat_events", "inbox_conversations", "inbox_contacts"):
        assert token not in repr(query(settings, f"SELECT * FROM {table}")), table


def test_reuse_needs_the_conversations_token_and_a_second_browser_gets_its_own(api: httpx.Client,
                                                                              settings: Settings) -> None:
    first = _lead(api, "ann.tan@example.com")
    said = api.post(f"/api/conversations/{first['conversation_id']}/messages", headers=customer_headers(first),
                    json={"content": "my income is 8000, can I afford 600k?"})
    assert said.status_code == 202

    # The same browser (its token), e-mail in another case: the same conversation and the same token.
    again = _lead(api, "ANN.TAN@EXAMPLE.COM", customer_headers(first))
    assert again == {**first, "reused": True}

    # A second browser (no token), or one holding some other conversation's token: a new conversation of the
    # same contact, and nothing of the first in the answer or behind the new token.
    stranger = _lead(api, "stranger@example.com")
    for headers in ({}, customer_headers(stranger), {"X-Conversation-Token": "made-up"}):
        second = _lead(api, "Ann.Tan@example.com", headers)
        assert set(second) == {"conversation_id", "broker", "reused", "conversation_token"}
        assert second["reused"] is False
        assert second["conversation_id"] not in (first["conversation_id"], stranger["conversation_id"])
        assert second["conversation_token"] not in (first["conversation_token"], stranger["conversation_token"])
        assert api.get(f"/api/conversations/{second['conversation_id']}/messages",
                       headers=customer_headers(second)).json()["messages"] == []
        assert api.get(f"/api/conversations/{first['conversation_id']}/messages",
                       headers=customer_headers(second)).status_code == 404
    # The right token but another loan type: a new conversation too (reuse is per loan type).
    refinance = _lead(api, "ann.tan@example.com", customer_headers(first), loanType="refinance")
    assert refinance["reused"] is False and refinance["conversation_id"] != first["conversation_id"]

    contacts = query(settings, "SELECT inbox_contact_id, email_hash FROM conversations WHERE id <> :s",
                     s=stranger["conversation_id"])
    assert len(contacts) == 5 and len({(c["inbox_contact_id"], c["email_hash"]) for c in contacts}) == 1


def test_a_lead_refused_while_redis_is_down_is_continued_by_its_retry(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    """The conversation is opened before the greeting job fails to queue; the 503 hands the form its token, so
    the retry continues that conversation (not a second one, with the first left orphaned)."""
    redis = EmbeddedRedis(tmp_path / "own-redis", port=free_port())
    settings: Settings = make_settings(e2e_db_url, REDIS_URL=redis.start(), ENQUEUE_TIMEOUT_S=1.0)
    try:
        with running_api(settings) as api:
            redis.stop()
            refused = api.post("/api/leads", json=LEAD)
            assert refused.status_code == 503 and refused.json()["retry"] is True
            body = refused.json()
            redis.start()  # same port: the API reconnects by itself
            retried = _lead(api, LEAD["email"], customer_headers(body))
            assert retried["reused"] is True and retried["conversation_id"] == body["conversation_id"]
            assert retried["conversation_token"] == body["conversation_token"]
            assert query(settings, "SELECT count(*) AS n FROM conversations")[0]["n"] == 1
            assert _queued(api) == 1  # its greeting, queued once
    finally:
        redis.stop()


@pytest.mark.parametrize(("consent", "reason"), [
    (None, "Field required"), (False, "consent is required"), ("true", "valid boolean"), (1, "valid boolean")])
def test_leads_without_consent_are_refused(api: httpx.Client, settings: Settings, consent: object,
                                           reason: str) -> None:
    body = {k: v for k, v in LEAD.items() if k != "consent"}
    if consent is not None:
        body["consent"] = consent
    response = api.post("/api/leads", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [d["field"] for d in detail] == ["consent"] and reason in detail[0]["message"]
    assert query(settings, "SELECT count(*) AS n FROM conversations")[0]["n"] == 0


def test_event_stream_variant_also_takes_the_token_from_the_query(settings: Settings) -> None:
    """No events route exists yet; the dependency a stream route will use, behind a stand-in route."""
    app = create_app(settings, settings.redis_url or "")

    @app.get("/api/conversations/{conversation_id}/stand-in-events")
    async def stand_in(record: CustomerConversationStream) -> dict[str, int]:
        return {"id": record.id}

    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=15) as client:
        lead = client.post("/api/leads", json=LEAD).json()
        path = f"/api/conversations/{lead['conversation_id']}/stand-in-events"
        assert client.get(path, params={"token": lead["conversation_token"]}).json() == {"id": lead["conversation_id"]}
        assert client.get(path, headers=customer_headers(lead)).status_code == 200
        assert client.get(path, headers=ADMIN).status_code == 200
        missing = client.get("/api/conversations/999999/stand-in-events")
        for params in ({}, {"token": "wrong"}):
            refused = client.get(path, params=params)
            assert (refused.status_code, refused.content) == (missing.status_code, missing.content) == (
                404, b'{"error":"conversation not found"}')
        # The query parameter is for streams only: the ordinary routes ignore it.
        plain = client.get(f"/api/conversations/{lead['conversation_id']}",
                           params={"token": lead["conversation_token"]})
        assert plain.status_code == 404


def test_the_privacy_notice_and_its_link(api: httpx.Client, make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/api/config/public").json() == {"privacy_policy_url": "/privacy"}
    page = api.get("/privacy")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for words in ("What we collect", "How long we keep it", "erase"):
        assert words in page.text
    with running_api(make_settings(e2e_db_url, PRIVACY_POLICY_URL="https://broker.example.sg/privacy")) as other:
        assert other.get("/api/config/public").json()["privacy_policy_url"] == "https://broker.example.sg/privacy"
    for bad in ("javascript:alert(1)", "//evil.example/x", "privacy.html"):
        with pytest.raises(ConfigurationError, match="PRIVACY_POLICY_URL"):
            load_settings(_env_file=None, PRIVACY_POLICY_URL=bad)


def test_the_chat_page_has_no_inline_script_or_style(api: httpx.Client) -> None:
    """So a Content-Security-Policy without 'unsafe-inline' can apply: script and style are files."""
    html = api.get("/").text
    assert '<script src="/static/chat.js" defer></script>' in html and "<style" not in html
    assert " style=" not in html and " onclick=" not in html.lower() and " onsubmit=" not in html.lower()
    assert html.count("<script") == html.count('<script src="/static/') == 2  # chat-live.js and chat.js
    script, style = api.get("/static/chat.js"), api.get("/static/chat.css")
    assert script.status_code == style.status_code == 200
    assert "javascript" in script.headers["content-type"] and "text/css" in style.headers["content-type"]
    assert "X-Conversation-Token" in script.text
