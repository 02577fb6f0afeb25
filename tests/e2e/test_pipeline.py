"""End to end with the worker as its own OS process: lead → greeting; message → exactly one reply."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aibroker.config import Settings
from tests.support.app import ADMIN, LEAD, customer_headers, running_api, running_workers
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow


def _messages(api: httpx.Client, conversation_id: int) -> list[dict[str, str]]:
    response = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN)
    response.raise_for_status()
    messages: list[dict[str, str]] = response.json()["messages"]
    return messages


def _bot_replies(api: httpx.Client, conversation_id: int) -> list[dict[str, str]]:
    return [m for m in _messages(api, conversation_id) if m["role"] == "bot"]


def test_lead_gets_greeting_and_each_message_exactly_one_reply(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    settings: Settings = make_settings(e2e_db_url)
    with running_api(settings) as api, running_workers(settings, tmp_path) as workers:
        lead = api.post("/api/leads", json=LEAD).json()
        conversation_id = lead["conversation_id"]
        greeting = wait_for(lambda: _bot_replies(api, conversation_id), what="greeting", timeout_s=30)
        assert len(greeting) == 1 and "Ann" in greeting[0]["content"]
        system = [m for m in _messages(api, conversation_id) if m["role"] == "system"]
        assert system and lead["broker"]["name"] in system[0]["content"]

        # The same lead again (form resubmitted by the same browser): reused, and still exactly one greeting.
        assert api.post("/api/leads", json=LEAD, headers=customer_headers(lead)).json()["reused"] is True

        api.post(f"/api/conversations/{conversation_id}/messages", json={"content": "How does TDSR work?"},
                 headers=customer_headers(lead))
        wait_for(lambda: len(_bot_replies(api, conversation_id)) >= 2, what="reply", timeout_s=30)
        health = wait_for(lambda: api.get("/api/health").status_code == 200
                          and api.get("/api/health", headers=ADMIN).json(), what="healthy", timeout_s=20)
        assert health["parts"]["worker"]["count"] == 1
        # Give any duplicate a chance to appear before counting.
        wait_for(lambda: api.get("/api/health", headers=ADMIN).json()["parts"]["queue"]["counts"]["active"] == 0,
                 what="idle")
        messages = _messages(api, conversation_id)
        assert [m["role"] for m in messages if m["role"] != "system"] == ["bot", "customer", "bot"]
        assert workers[0].process is not None and workers[0].process.poll() is None
    # SIGTERM: the worker shut down gracefully.
    assert workers[0].process is not None and workers[0].process.returncode == 0, workers[0].log()[-2000:]
    assert "worker stopped" in workers[0].log()


def test_worker_status_reports_the_running_worker(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                  tmp_path: Path) -> None:
    settings: Settings = make_settings(e2e_db_url, WORKER_CONCURRENCY=7)
    with running_api(settings) as api, running_workers(settings, tmp_path):
        status = wait_for(lambda: api.get("/api/worker/status").json()["running"] and
                          api.get("/api/worker/status", headers=ADMIN).json(), what="worker heartbeat", timeout_s=30)
        assert status["concurrency"] == 7 and status["paused"] is False and status["last_heartbeat"]
