"""Input the API cannot use is refused with a 4xx in the one error shape, never a 500 (issue #10 item 6)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis

from aibroker.api.schemas import ErrorBody
from aibroker.config import Settings
from tests.conftest import TEST_DATABASE_URL, _fresh_database
from tests.fakes.fake_chatwoot import sign
from tests.support.app import ADMIN, LEAD, running_api

SECRET = "bad-input-webhook-secret"
HUGE = 2**63


@pytest.fixture(scope="module")
def conversation_id(api: httpx.Client) -> int:
    response = api.post("/api/leads", json=LEAD)
    assert response.status_code == 201, response.text
    return int(response.json()["conversation_id"])


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, redis_url: str, pg_template: str | None,
        sqlite_template: Path) -> Iterator[httpx.Client]:
    """One server for the module (the cases are refusals or reads, so they can share it): the same settings
    `make_settings` builds, on a fresh database of the end-to-end backend."""
    tmp_path = tmp_path_factory.mktemp("bad-input")
    database = _fresh_database("postgresql" if TEST_DATABASE_URL else "sqlite", tmp_path, pg_template,
                               sqlite_template)
    db_url = next(database)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(_env_file=None, AIBROKER_DATA_DIR=str(tmp_path / "var"), DATABASE_URL=db_url,  # type: ignore[call-arg]
                        REDIS_URL=redis_url, QUEUE_PREFIX=prefix, PACING_ENABLED=False,
                        AIBROKER_ADMIN_TOKEN="test-admin-token", CHATWOOT_WEBHOOK_SECRET=SECRET,
                        RATE_LIMITS_ENABLED=False)  # dozens of leads from one address (limits: test_rate_limits)
    try:
        with running_api(settings) as client:
            yield client
    finally:
        next(database, None)  # drops the database
        client_ = sync_redis.Redis.from_url(redis_url)
        keys = list(client_.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client_.delete(*keys)
        client_.close()


def _signed(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {"Content-Type": "application/json", "X-Chatwoot-Timestamp": timestamp,
            "X-Chatwoot-Signature": sign(SECRET, timestamp, body)}


def _assert_error_shape(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    ErrorBody.model_validate(body)  # `error` is a string; `detail`, when present, is [{field, message}]
    assert isinstance(body["error"], str) and body["error"]
    return body


CONVERSATION_ROUTES = [("GET", "/api/conversations/{id}"), ("GET", "/api/conversations/{id}/messages"),
                       ("POST", "/api/conversations/{id}/messages"), ("POST", "/api/conversations/{id}/handoff"),
                       ("POST", "/api/conversations/{id}/handback")]


@pytest.mark.parametrize(("method", "path"), CONVERSATION_ROUTES)
@pytest.mark.parametrize("bad_id", [HUGE, HUGE * 10**20, 2_147_483_648, 0, -1, "abc", "1e3", "٣"])
def test_ids_out_of_range_are_422(api: httpx.Client, method: str, path: str, bad_id: object) -> None:
    response = api.request(method, path.format(id=bad_id), headers=ADMIN, json={"content": "hi"})
    body = _assert_error_shape(response, 422)
    assert body["detail"][0]["field"] == "conversation_id"


@pytest.mark.parametrize("before", ["abc", "", "-1", "0", str(HUGE), "1.5", "٣"])
def test_bad_message_cursor_is_422(api: httpx.Client, conversation_id: int, before: str) -> None:
    response = api.get(f"/api/conversations/{conversation_id}/messages", params={"before": before}, headers=ADMIN)
    assert _assert_error_shape(response, 422)["detail"][0]["field"] == "before"


def test_a_good_message_cursor_still_works(api: httpx.Client, conversation_id: int) -> None:
    response = api.get(f"/api/conversations/{conversation_id}/messages", params={"before": 1}, headers=ADMIN)
    assert response.status_code == 200 and response.json() == {"messages": []}


@pytest.mark.parametrize("content", ["   ", "\n\t ", "hi\x00there", "\x00", "x\ud800y"])
def test_blank_or_unstorable_messages_are_422(api: httpx.Client, conversation_id: int, content: str) -> None:
    # httpx would refuse to encode a lone surrogate, so the JSON is written by hand (it is valid JSON).
    raw = '{"content": "' + content.encode("unicode_escape").decode().replace("\\x", "\\u00") + '"}'
    raw = raw.replace("\\ud800", "\\ud800")
    response = api.post(f"/api/conversations/{conversation_id}/messages", headers={**ADMIN,
                        "Content-Type": "application/json"}, content=raw.encode())
    assert _assert_error_shape(response, 422)["detail"][0]["field"] == "content"


@pytest.mark.parametrize(("raw_change", "field"), [
    ('"actualIncomes": [NaN]', "actualIncomes.0"),
    ('"actualIncomes": [Infinity]', "actualIncomes.0"),
    ('"actualIncomes": [-Infinity]', "actualIncomes.0"),
    ('"actualIncomes": [true]', "actualIncomes.0"),
    ('"actualAges": [true]', "actualAges.0"),
    ('"propertyPrice": false', "propertyPrice"),
    ('"propertyPrice": NaN', "propertyPrice"),
    ('"currentRate": true', "currentRate"),
    ('"outstandingLoan": Infinity', "outstandingLoan"),
    ('"lockInMonthsLeft": true', "lockInMonthsLeft"),
    ('"name": "Ann\\u0000Tan"', "name"),
    ('"sessionId": "s\\u0000"', "sessionId"),
])
def test_lead_numbers_and_text_that_cannot_be_used_are_422(api: httpx.Client, raw_change: str, field: str) -> None:
    raw = '{"name": "Ann Tan", "email": "ann@example.com", "loanType": "refinance", ' + raw_change + "}"
    response = api.post("/api/leads", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert field in [d["field"] for d in _assert_error_shape(response, 422)["detail"]]


@pytest.mark.parametrize("timestamp", ["9" * 5000, "1" * 13, "²³", "١٧٠٠٠٠٠٠٠٠", "-1", "1e9"])
def test_absurd_webhook_timestamps_are_401_before_any_parsing(api: httpx.Client, timestamp: str) -> None:
    # Headers travel as bytes; the server reads them as latin-1, so "²" (0xB2) arrives as "²", a digit to isdigit().
    try:
        raw = timestamp.encode("latin-1")
    except UnicodeEncodeError:
        raw = timestamp.encode()
    response = api.post("/api/webhooks/chatwoot", content=b'{"event": "message_created"}',
                        headers={"Content-Type": b"application/json", "X-Chatwoot-Timestamp": raw,
                                 "X-Chatwoot-Signature": b"sha256=" + b"0" * 64})
    assert "timestamp" in _assert_error_shape(response, 401)["error"]


def test_a_signed_webhook_nested_20000_deep_is_400(api: httpx.Client) -> None:
    body = b'{"event": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    response = api.post("/api/webhooks/chatwoot", content=body, headers=_signed(body))
    assert "nested too deeply" in _assert_error_shape(response, 400)["error"]


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_a_signed_webhook_that_is_not_an_object_is_400(api: httpx.Client, body: bytes) -> None:
    response = api.post("/api/webhooks/chatwoot", content=body, headers=_signed(body))
    assert "JSON object" in _assert_error_shape(response, 400)["error"]


def test_a_signed_webhook_object_is_still_accepted(api: httpx.Client) -> None:
    body = b'{"event": "conversation_typing_on"}'
    response = api.post("/api/webhooks/chatwoot", content=body, headers=_signed(body))
    assert response.status_code == 200 and response.json()["status"].startswith("ignored")


@pytest.mark.parametrize("path", ["/api/leads", "/api/conversations/{id}/messages"])
def test_bodies_nested_20000_deep_are_400(api: httpx.Client, conversation_id: int, path: str) -> None:
    body = b'{"content": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    response = api.post(path.format(id=conversation_id), content=body,
                        headers={**ADMIN, "Content-Type": "application/json"})
    _assert_error_shape(response, 400)


@pytest.mark.parametrize(("method", "path", "status", "allow"), [
    ("GET", "/api/nothing-here", 404, None), ("GET", "/nothing", 404, None), ("DELETE", "/api/leads", 405, "POST"),
    ("PUT", "/api/conversations/1", 405, "GET"), ("GET", "/api/webhooks/chatwoot", 405, "POST"),
    ("PATCH", "/api/conversations/1/messages", 405, "GET, POST"),  # two routes on one path: both methods
])
def test_starlettes_own_errors_have_the_shape(api: httpx.Client, method: str, path: str, status: int,
                                              allow: str | None) -> None:
    response = api.request(method, path)
    _assert_error_shape(response, status)
    assert response.headers.get("allow") == allow


def test_too_large_is_413_in_the_shape(api: httpx.Client) -> None:
    response = api.post("/api/leads", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    _assert_error_shape(response, 413)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
def test_admin_refusals_have_the_shape(api: httpx.Client, headers: dict[str, str]) -> None:
    _assert_error_shape(api.get("/api/admin/brokers", headers=headers), 401)
