"""Replies keep the order of the customer's messages even when a worker dies mid-reply (issue #10, item 11).

The dead worker's job still holds its ledger claim on message 1 when message 2's job gets the conversation (its
lock lease ran out); BullMQ's stalled check brings message 1's job back only later. Workers are OS processes.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from aibroker.config import Settings
from tests.fakes.fake_openai import FakeOpenAI
from tests.support.app import ADMIN, LEAD, running_api, running_workers
from tests.support.db import ledger
from tests.support.servers import wait_for
from tests.support.slow_llm import llm_env, slow_llm

pytestmark = pytest.mark.slow


def _messages(api: httpx.Client, conversation_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN)
    response.raise_for_status()
    return [m for m in response.json()["messages"] if m["role"] != "system"]


def _say(api: httpx.Client, conversation_id: int, text: str) -> str:
    response = api.post(f"/api/conversations/{conversation_id}/messages", json={"content": text}, headers=ADMIN)
    assert response.status_code == 202, response.text
    message_id: str = response.json()["message_id"]
    return message_id


def _idle(api: httpx.Client) -> bool:
    counts = api.get("/api/health", headers=ADMIN).json()["parts"]["queue"].get("counts", {})
    return bool(counts) and all(counts[state] == 0 for state in ("active", "waiting", "delayed", "prioritized"))


def test_replies_keep_the_customers_order_after_a_worker_dies_mid_reply(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                        tmp_path: Path) -> None:
    with slow_llm(60) as llm:
        settings: Settings = make_settings(e2e_db_url, PACING_ENABLED=True, **llm_env(llm))
        _order_after_a_crash(settings, tmp_path, llm)


def _order_after_a_crash(settings: Settings, tmp_path: Path, llm: FakeOpenAI) -> None:
    with running_api(settings) as api:
        with running_workers(settings, tmp_path, count=1) as (worker,):
            response = api.post("/api/leads", json={**LEAD, "email": f"{uuid.uuid4().hex[:8]}@example.com"})
            assert response.status_code == 201, response.text
            conversation_id: int = response.json()["conversation_id"]
            wait_for(lambda: any(m["role"] == "bot" for m in _messages(api, conversation_id)), what="greeting",
                     timeout_s=30)
            first = _say(api, conversation_id, "what documents do I need for a bank loan?")
            # Message 1's job has claimed it and is generating its reply (a slow LLM) ...
            wait_for(lambda: len(llm.requests) >= 1, what="generating reply 1", timeout_s=30)
            second = _say(api, conversation_id, "and how long does approval usually take?")
            # ... and message 2's job waits for its turn, when the worker dies without any clean-up.
            worker.kill()
        assert {r["key"]: r["state"] for r in ledger(settings, conversation_id)}[f"message:{first}"] == "claimed"

        with running_workers(settings, tmp_path, count=2):
            keys = (f"message:{first}", f"message:{second}")
            wait_for(lambda: all(r["state"] == "sent" for r in ledger(settings, conversation_id) if r["key"] in keys)
                     and len(ledger(settings, conversation_id)) == 3, what="both answered", timeout_s=60)
            wait_for(lambda: _idle(api), what="idle queue", timeout_s=30)
            messages = _messages(api, conversation_id)
            rows = {r["key"]: r for r in ledger(settings, conversation_id)}

    roles = [m["role"] for m in messages]
    bot_ids = [m["id"] for m in messages if m["role"] == "bot"]
    replies = [rows[key]["sent_message_id"] for key in keys]
    # Each message answered exactly once, by a reply that came after it: message 1 never by a later reply than
    # message 2 (one reply covering both, in order, is fine).
    assert all(replies) and len(bot_ids) == len(set(bot_ids)), rows
    assert int(replies[0]) <= int(replies[1]), f"message 2 was answered before message 1: {rows}"
    assert set(bot_ids[1:]) == set(replies), "a reply that answers nothing (a duplicate)"
    position = {m["id"]: i for i, m in enumerate(messages)}
    assert position[replies[0]] > position[first] and position[replies[1]] > position[second]
    assert roles[:3] == ["bot", "customer", "customer"] and roles[-1] == "bot", roles
