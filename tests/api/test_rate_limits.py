"""Issue #10 item 5: abuse limits on lead intake and customer messages, in real Redis, through the real API.

Over a limit: 429 with Retry-After and a reason, and nothing stored or queued. Recovery is waited for as a
condition (short windows configured in the test), never slept through.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import redis as sync_redis

from aibroker.adapters.ratelimit import RedisRateLimiter
from aibroker.api.ratelimit import client_ip
from aibroker.config import Settings, parse_networks
from aibroker.domain.ports import RateCharge
from tests.support.app import ADMIN, LEAD, running_api
from tests.support.db import query

RECOVERY_BOUND_S = 30.0


def _post_lead(api: httpx.Client, i: int, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return api.post("/api/leads", json={**LEAD, "email": f"rate{i}@example.com"}, headers=headers)


def _post_message(api: httpx.Client, conversation_id: int, text: str) -> httpx.Response:
    return api.post(f"/api/conversations/{conversation_id}/messages", json={"content": text}, headers=ADMIN)


def _conversations(settings: Settings) -> int:
    return int(query(settings, "SELECT count(*) AS n FROM conversations")[0]["n"])


def _inbound(settings: Settings, conversation_id: int) -> int:
    return int(query(settings, "SELECT count(*) AS n FROM inbound_messages WHERE conversation_id = :c",
                     c=conversation_id)[0]["n"])


def _jobs(settings: Settings, kind: str) -> int:
    """BullMQ job hashes (`{prefix}:{queue}:{job id}`) of one kind, straight from Redis."""
    client = sync_redis.Redis.from_url(settings.redis_url or "")
    try:
        pattern = f"{settings.queue_prefix}:{settings.queue_name}:{kind}-*"
        return sum(1 for key in client.scan_iter(match=pattern, count=500) if b":" not in key[len(pattern) - 1:])
    finally:
        client.close()


def _assert_refused(response: httpx.Response, reason: str) -> int:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    error = response.json()["error"]
    assert error.startswith(reason) and f"try again in {retry_after} s" in error, error
    return retry_after


def _until_accepted(send: Any, expected: int) -> httpx.Response:
    """Send until the limit lets the request through again (bounded); every refusal on the way is a 429."""
    deadline = time.monotonic() + RECOVERY_BOUND_S
    while True:
        response = send()
        if response.status_code == expected:
            return response
        _assert_refused(response, "too many ")
        assert time.monotonic() < deadline, "the limit never let a request through again"
        time.sleep(0.2)


def test_the_sixth_lead_in_a_minute_is_refused_and_nothing_is_created(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=True)  # defaults: 5/minute;30/hour
    with running_api(settings) as api:
        for i in range(5):
            assert _post_lead(api, i).status_code == 201
        assert (_conversations(settings), _jobs(settings, "new-conversation")) == (5, 5)
        retry_after = _assert_refused(_post_lead(api, 5), "too many leads from this address")
        assert retry_after <= 60
        _assert_refused(api.post("/api/chatwoot-conversation", json={**LEAD, "email": "rate6@example.com"}),
                        "too many leads from this address")  # the legacy path shares the limit
        assert (_conversations(settings), _jobs(settings, "new-conversation")) == (5, 5)
        # The admin token is no way around it (limits apply to every request on the route).
        _assert_refused(api.post("/api/leads", json={**LEAD, "email": "rate7@example.com"}, headers=ADMIN),
                        "too many leads from this address")
        assert _conversations(settings) == 5


def test_lead_limit_recovers_after_its_window(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=True, RATE_LIMIT_LEADS_PER_IP="2/2second")
    with running_api(settings) as api:
        assert [_post_lead(api, i).status_code for i in range(2)] == [201, 201]
        assert _assert_refused(_post_lead(api, 2), "too many leads from this address") <= 2
        response = _until_accepted(lambda: _post_lead(api, 3), 201)
        assert response.json()["reused"] is False
        assert _conversations(settings) == 3  # the refused attempts created nothing


def test_messages_are_limited_per_conversation_and_recover(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=True,
                                       RATE_LIMIT_MESSAGES_PER_CONVERSATION="3/3second",
                                       RATE_LIMIT_MESSAGES_PER_IP="100/minute")
    with running_api(settings) as api:
        first, second = (_post_lead(api, i).json()["conversation_id"] for i in range(2))
        assert [_post_message(api, first, f"question {i}").status_code for i in range(3)] == [202] * 3
        _assert_refused(_post_message(api, first, "one too many"), "too many messages in this conversation")
        assert (_inbound(settings, first), _jobs(settings, "incoming-message")) == (3, 3)
        assert _post_message(api, second, "my own bucket").status_code == 202  # another conversation is not held up
        _until_accepted(lambda: _post_message(api, first, "after the window"), 202)
        assert _inbound(settings, first) == 4 and _jobs(settings, "incoming-message") == 5


def test_messages_are_limited_per_address_across_conversations(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=True, RATE_LIMIT_MESSAGES_PER_IP="3/2second")
    with running_api(settings) as api:
        first, second = (_post_lead(api, i).json()["conversation_id"] for i in range(2))
        assert [_post_message(api, c, "hello").status_code for c in (first, first, second)] == [202] * 3
        _assert_refused(_post_message(api, second, "fourth"), "too many messages from this address")
        assert _inbound(settings, first) + _inbound(settings, second) == 3
        _until_accepted(lambda: _post_message(api, second, "after the window"), 202)
        assert _inbound(settings, second) == 2


def test_rate_limits_enabled_false_lets_everything_through(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=False, RATE_LIMIT_LEADS_PER_IP="1/minute",
                                       RATE_LIMIT_MESSAGES_PER_CONVERSATION="1/minute",
                                       RATE_LIMIT_MESSAGES_PER_IP="1/minute")
    with running_api(settings) as api:
        ids = [_post_lead(api, i).json()["conversation_id"] for i in range(3)]
        assert [_post_message(api, ids[0], f"m{i}").status_code for i in range(3)] == [202] * 3
        assert _conversations(settings) == 3 and _inbound(settings, ids[0]) == 3


def test_forwarded_for_is_believed_only_from_a_trusted_peer(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    # The test client's TCP peer is 127.0.0.1. Untrusted: two "clients" claiming different addresses share a bucket.
    untrusted: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=True, RATE_LIMIT_LEADS_PER_IP="1/minute",
                                        TRUSTED_PROXIES="10.0.0.0/8")
    with running_api(untrusted) as api:
        assert _post_lead(api, 0, forwarded_for="198.51.100.1").status_code == 201
        _assert_refused(_post_lead(api, 1, forwarded_for="198.51.100.2"), "too many leads from this address")


def test_forwarded_for_from_a_trusted_proxy_separates_clients(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    trusted: Settings = make_settings(e2e_db_url, RATE_LIMITS_ENABLED=True, RATE_LIMIT_LEADS_PER_IP="1/minute",
                                      TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8")
    with running_api(trusted) as api:
        assert _post_lead(api, 0, forwarded_for="198.51.100.1").status_code == 201
        assert _post_lead(api, 1, forwarded_for="198.51.100.2").status_code == 201
        # Through two trusted hops; what the client itself wrote on the left proves nothing.
        assert _post_lead(api, 2, forwarded_for="203.0.113.9, 198.51.100.3, 10.1.2.3").status_code == 201
        _assert_refused(_post_lead(api, 3, forwarded_for="203.0.113.50, 198.51.100.1"),
                        "too many leads from this address")
        _assert_refused(_post_lead(api, 4, forwarded_for="192.0.2.1, 198.51.100.3"),
                        "too many leads from this address")


def test_client_ip_rules() -> None:
    trusted = parse_networks("127.0.0.1,10.0.0.0/8,2001:db8::/32")
    assert client_ip("127.0.0.1", [], trusted) == "127.0.0.1"
    assert client_ip("192.0.2.7", ["198.51.100.1"], trusted) == "192.0.2.7"  # untrusted peer: header ignored
    assert client_ip("127.0.0.1", ["198.51.100.1"], trusted) == "198.51.100.1"
    assert client_ip("127.0.0.1", ["6.6.6.6, 198.51.100.1", "10.0.0.2"], trusted) == "198.51.100.1"
    assert client_ip("127.0.0.1", ["10.0.0.3, 10.0.0.2"], trusted) == "10.0.0.3"  # only proxies: the farthest
    assert client_ip("127.0.0.1", ["198.51.100.1, not-an-ip"], trusted) == "127.0.0.1"  # garbage from a proxy
    assert client_ip("2001:db8::1", ["2001:db8::2, 2a00::5"], trusted) == "2a00::5"
    assert client_ip(None, ["198.51.100.1"], ()) == "unknown"


def test_openapi_documents_the_429(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    with running_api(make_settings(e2e_db_url)) as api:
        paths = api.get("/openapi.json").json()["paths"]
    for path in ("/api/leads", "/api/conversations/{conversation_id}/messages"):
        response = paths[path]["post"]["responses"]["429"]
        assert "Retry-After" in response["headers"]
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


async def test_an_unreachable_redis_lets_requests_through_quickly(caplog) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", "t", {"leads_per_ip": "1/minute"}, timeout_s=0.5)
    try:
        started = time.monotonic()
        outcomes = await asyncio.gather(*(limiter.acquire([RateCharge("leads_per_ip", "192.0.2.1")])
                                          for _ in range(3)))
        outcomes.append(await limiter.acquire([RateCharge("leads_per_ip", "192.0.2.1")]))
        assert outcomes == [None] * 4
        assert time.monotonic() - started < 5  # the limiter's own timeout, not a hang
    finally:
        await limiter.aclose()
    warnings = [r for r in caplog.records if "rate limits not enforced" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per request


def test_a_bad_limit_string_stops_start_up_naming_the_variable(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "RATE_LIMIT_LEADS_PER_IP": "5 per fortnight", "DATABASE_URL": e2e_db_url}
    result = subprocess.run([sys.executable, "-m", "aibroker.cli", "serve"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "RATE_LIMIT_LEADS_PER_IP=5 per fortnight" in result.stderr and "Traceback" not in result.stderr
