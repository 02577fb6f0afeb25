"""Issue #10 item 5, end to end with a real worker process: a quiet conversation gives its broker slot back, and
when the customer returns it is the same broker again, with one greeting and one "joined" in the transcript.

The conversation is made quiet by moving its creation time back (ASSIGNMENT_IDLE_MINUTES=1, so the workers look
every 6 s and the customer's new message keeps it busy for a minute: no race with a second release).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.models import Broker, Conversation
from aibroker.config import Settings
from tests.support.app import ADMIN, LEAD, running_api, running_workers
from tests.support.db import ledger, query
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow


def _messages(api: httpx.Client, conversation_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def _bot(api: httpx.Client, conversation_id: int) -> list[dict[str, Any]]:
    return [m for m in _messages(api, conversation_id) if m["role"] == "bot"]


def _assignment(settings: Settings, conversation_id: int) -> dict[str, Any]:
    return query(settings, "SELECT a.status, a.release_reason, a.broker_id AS slot_broker, c.broker_id, "
                           "b.current_workload FROM broker_conversations a JOIN conversations c "
                           "ON c.id = a.conversation_id JOIN ai_brokers b ON b.id = c.broker_id "
                           "WHERE a.conversation_id = :c", c=conversation_id)[0]


def _orm(settings: Settings, *statements: Any) -> None:
    """Set up the situation through the product's own column types (timestamps differ per backend)."""

    async def run() -> None:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(statement)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _greeted_then_idle(api: httpx.Client, settings: Settings) -> tuple[int, dict[str, Any]]:
    conversation_id = api.post("/api/leads", json=LEAD).json()["conversation_id"]
    wait_for(lambda: _bot(api, conversation_id), what="greeting", timeout_s=30)
    assigned = _assignment(settings, conversation_id)
    assert assigned["status"] == "active" and assigned["slot_broker"] == assigned["broker_id"]
    _orm(settings, update(Conversation).where(Conversation.id == conversation_id)
         .values(created_at=datetime.now(UTC) - timedelta(hours=2)))
    released = wait_for(lambda: (row := _assignment(settings, conversation_id))["status"] == "released" and row,
                        what="idle release", timeout_s=40)
    assert released["release_reason"] == "idle"
    assert released["current_workload"] == assigned["current_workload"] - 1  # the slot is free again
    return conversation_id, assigned


def _one_greeting_and_one_joined(api: httpx.Client, settings: Settings, conversation_id: int) -> None:
    messages = _messages(api, conversation_id)
    assert [m["role"] for m in messages if m["role"] != "system"] == ["bot", "customer", "bot"]
    assert len([m for m in messages if m["role"] == "system" and "joined" in m["content"]]) == 1
    assert [row["key"] for row in ledger(settings, conversation_id)].count("greeting") == 1


def test_an_idle_conversation_frees_its_slot_and_gets_the_same_broker_back(  # type: ignore[no-untyped-def]
        make_settings, e2e_db_url: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(e2e_db_url, ASSIGNMENT_IDLE_MINUTES=1)
    with running_api(settings) as api, running_workers(settings, tmp_path):
        conversation_id, assigned = _greeted_then_idle(api, settings)

        assert api.post(f"/api/conversations/{conversation_id}/messages", headers=ADMIN,
                        json={"content": "Back again: how does TDSR work?"}).status_code == 202
        wait_for(lambda: len(_bot(api, conversation_id)) >= 2, what="reply", timeout_s=30)
        again = _assignment(settings, conversation_id)
        assert (again["status"], again["release_reason"]) == ("active", None)
        assert again["slot_broker"] == again["broker_id"] == assigned["broker_id"]
        assert again["current_workload"] == assigned["current_workload"]
        _one_greeting_and_one_joined(api, settings, conversation_id)


def test_a_returning_customer_is_answered_even_when_every_broker_is_full(  # type: ignore[no-untyped-def]
        make_settings, e2e_db_url: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(e2e_db_url, ASSIGNMENT_IDLE_MINUTES=1)
    with running_api(settings) as api, running_workers(settings, tmp_path):
        conversation_id, _assigned = _greeted_then_idle(api, settings)
        # No broker can take a slot (unavailable rather than full: the workers' reconcile recounts workloads).
        _orm(settings, update(Broker).values(is_available=False))

        assert api.post(f"/api/conversations/{conversation_id}/messages", headers=ADMIN,
                        json={"content": "Back again: how does TDSR work?"}).status_code == 202
        wait_for(lambda: len(_bot(api, conversation_id)) >= 2, what="reply", timeout_s=30)
        assert _assignment(settings, conversation_id)["status"] == "waiting"  # in line for the next free slot
        _one_greeting_and_one_joined(api, settings, conversation_id)
