"""The Slack handoff notice (issue #12): one message per handoff, first name only, a link to the console, and a
handoff that never fails or hangs because Slack is down. Against a fake Slack incoming webhook (a real server)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aibroker.config import ConfigurationError, Settings, load_settings
from tests.fakes.fake_slack import running_fake_slack
from tests.support.app import ADMIN, LEAD, running_api

PUBLIC = "https://broker.example.com"


def _lead(api: httpx.Client, email: str) -> int:
    response = api.post("/api/leads", json={**LEAD, "name": "Kim Ng Wei", "email": email})
    assert response.status_code == 201, response.text
    return int(response.json()["conversation_id"])


def _operator(api: httpx.Client, conversation_id: int, action: str) -> dict[str, Any]:
    response = api.post(f"/api/conversations/{conversation_id}/{action}", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_one_notice_per_handoff_with_a_console_link_and_no_personal_data(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    with running_fake_slack() as slack:
        settings: Settings = make_settings(e2e_db_url, SLACK_WEBHOOK_URL=slack.url, PUBLIC_BASE_URL=PUBLIC + "/")
        with running_api(settings) as api:
            conversation_id = _lead(api, "kim.ng@example.com")
            _operator(api, conversation_id, "handoff")
            _operator(api, conversation_id, "handoff")  # humans own it already: not a new handoff
            [text] = slack.texts()
            assert f"<{PUBLIC}/console#conversation-{conversation_id}|" in text and "Kim is waiting" in text
            assert "operator" in text  # the reason, in words
            for personal in ("Ng", "Wei", "kim.ng@example.com", LEAD["phone"], "example.com>"):
                assert personal not in text.replace(f"{PUBLIC}/", "")

            _operator(api, conversation_id, "handback")
            _operator(api, conversation_id, "handoff")  # a second handoff: a second notice
            assert len(slack.texts()) == 2

            # Slack down: the handoff still succeeds; the notice is tried twice (bounded), then dropped.
            slack.fail_all(500)
            other = _lead(api, "lee@example.com")
            assert _operator(api, other, "handoff")["owner"] == "human"
            assert len(slack.refused) == 2 and len(slack.texts()) == 2


def test_without_a_public_address_links_use_host_and_port() -> None:
    assert load_settings(_env_file=None, HOST="0.0.0.0", PORT=8080).console_url == "http://0.0.0.0:8080/console"
    assert load_settings(_env_file=None, PUBLIC_BASE_URL="https://a.example/chat/").console_url == \
        "https://a.example/chat/console"
    for bad in ({"PUBLIC_BASE_URL": "broker.example.com"}, {"SLACK_WEBHOOK_URL": "javascript:alert(1)"}):
        with pytest.raises(ConfigurationError) as refused:
            load_settings(_env_file=None, **bad)
        assert next(iter(bad)) in str(refused.value)
