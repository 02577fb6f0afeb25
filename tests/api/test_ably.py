"""ENABLE_ABLY_REALTIME: the same live events also go to Ably's REST API (a fake Ably server here), and an Ably
that refuses or is away never fails the customer's request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aibroker.config import ConfigurationError, load_settings
from tests.fakes.fake_ably import running_fake_ably
from tests.support.app import LEAD, customer_headers, running_api
from tests.support.servers import free_port, wait_for

KEY = "appid.keyid:not-a-real-secret"


def _conversation(api: httpx.Client) -> dict[str, Any]:
    lead: dict[str, Any] = api.post("/api/leads", json=LEAD).json()
    said = api.post(f"/api/conversations/{lead['conversation_id']}/messages", headers=customer_headers(lead),
                    json={"content": "Can I use my CPF?"})
    assert said.status_code == 202, said.text
    return lead


def test_live_events_are_published_to_ably(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    with running_fake_ably(KEY) as ably, running_api(make_settings(
            e2e_db_url, ENABLE_ABLY_REALTIME=True, ABLY_API_KEY=KEY, ABLY_REST_URL=ably.base_url)) as api:
        lead = _conversation(api)
        channel = f"aibroker:conversation-{lead['conversation_id']}"
        wait_for(lambda: len(ably.messages(channel)) == 2 and len(ably.messages("aibroker:console")) == 2,
                 what="both events on both channels")
        status, message = ably.messages(channel)
        assert (status["name"], status["data"]["owner"], status["data"]["status"]) == ("status", "bot", "pending")
        assert message["name"] == "message"
        assert (message["data"]["role"], message["data"]["content"]) == ("customer", "Can I use my CPF?")
        assert ably.messages("aibroker:console") == [status, message]
        assert len({status["id"], message["id"]}) == 2 and ably.refused == 0


def test_an_ably_that_refuses_or_is_away_does_not_fail_the_request(make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    with running_fake_ably("other.key:secret") as ably, running_api(make_settings(
            e2e_db_url, ENABLE_ABLY_REALTIME=True, ABLY_API_KEY=KEY, ABLY_REST_URL=ably.base_url)) as api:
        _conversation(api)  # 201 and 202 all the same
        wait_for(lambda: ably.refused >= 4, what="Ably's 401s")
        assert ably.messages("aibroker:console") == []
    nowhere = f"http://127.0.0.1:{free_port()}"
    with running_api(make_settings(e2e_db_url, ENABLE_ABLY_REALTIME=True, ABLY_API_KEY=KEY,
                                   ABLY_REST_URL=nowhere)) as api:
        _conversation(api)


@pytest.mark.parametrize("env", [{"ENABLE_ABLY_REALTIME": "true"},
                                 {"ENABLE_ABLY_REALTIME": "true", "ABLY_API_KEY": "no-secret-part"},
                                 {"ABLY_REST_URL": "ftp://rest.ably.io"}])
def test_ably_settings_are_checked_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="ABLY"):
        load_settings(_env_file=None, **env)
