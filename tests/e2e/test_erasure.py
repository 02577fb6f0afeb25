"""Erasure (PDPA) end to end: two people's leads, messages, replies and events; erase one by e-mail (admin route and
CLI) or by age (purge); nothing of them is left in any table or Redis key, the other person is untouched, broker
workloads stay right, and a job that arrives for an erased conversation ends quietly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aibroker.adapters.queue.bullmq_queue import BullJobQueue
from aibroker.adapters.realtime.events import stream_name
from aibroker.config import Settings
from aibroker.domain.jobs import IncomingMessageJob
from tests.support.app import ADMIN, LEAD, running_api, running_workers, worker_env
from tests.support.db import execute, query
from tests.support.personal_data import database_hits, redis_hits, redis_key_exists
from tests.support.servers import wait_for

pytestmark = pytest.mark.slow

ZORA = {**LEAD, "name": "Zorabel Quist", "email": "zorabel.quist@example.com", "phone": "+6591357913",
        "sessionId": "s-zora"}
YAN = {**LEAD, "name": "Yannick Ostrander", "email": "yannick.ostrander@example.org", "phone": "+6598642086",
       "sessionId": "s-yan"}
ZORA_MESSAGE = "My aunt Philomena Wexcombe co-owns our flat, can she stay on the loan?"
YAN_MESSAGE = "We are looking at a unit near Bartleby Crescent, what would the stamp duty be?"
ZORA_NEEDLES = ["Zorabel", "Quist", "zorabel.quist@example.com", "91357913", "Philomena Wexcombe"]
YAN_NEEDLES = ["Yannick", "Ostrander", "yannick.ostrander@example.org", "98642086", "Bartleby Crescent"]
AIBROKER = Path(sys.executable).parent / "aibroker"


def _bot_replies(api: httpx.Client, conversation_id: int) -> int:
    response = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN)
    response.raise_for_status()
    return sum(1 for m in response.json()["messages"] if m["role"] == "bot")


def _two_people(api: httpx.Client, *, with_messages: bool = True) -> tuple[int, int]:
    ids = []
    for lead, message in ((ZORA, ZORA_MESSAGE), (YAN, YAN_MESSAGE)):
        response = api.post("/api/leads", json=lead)
        assert response.status_code == 201, response.text
        ids.append(int(response.json()["conversation_id"]))
        if with_messages:
            posted = api.post(f"/api/conversations/{ids[-1]}/messages", json={"content": message}, headers=ADMIN)
            assert posted.status_code == 202, posted.text
    return ids[0], ids[1]


def _cli(settings: Settings, *args: str, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in {**os.environ, **worker_env(settings)}.items() if k not in without}
    return subprocess.run([str(AIBROKER), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def _reconcile_corrects_nothing(settings: Settings) -> None:
    result = _cli(settings, "reconcile")
    assert result.returncode == 0 and "workloads were already right" in result.stdout, result.stdout + result.stderr


def _assert_other_person_intact(settings: Settings, conversation_id: int) -> None:
    tables = {table for table, _column, _needle in database_hits(settings, YAN_NEEDLES)}
    assert {"conversations", "inbox_contacts", "inbox_messages"} <= tables
    assert query(settings, "SELECT status FROM broker_conversations WHERE conversation_id = :c", c=conversation_id)
    assert redis_key_exists(settings, stream_name(settings.queue_prefix, conversation_id))


def _queue_job(settings: Settings, job: IncomingMessageJob) -> None:
    async def add() -> None:
        queue = BullJobQueue(settings, settings.redis_url or "")
        try:
            assert await queue.enqueue(job)
        finally:
            await queue.aclose()

    asyncio.run(add())


def test_erasing_a_person_by_email_leaves_nothing_of_them_and_everything_of_others(  # type: ignore[no-untyped-def]
        make_settings, db_url: str, tmp_path: Path) -> None:
    settings: Settings = make_settings(db_url)
    with running_api(settings) as api, running_workers(settings, tmp_path) as workers:
        zora, yan = _two_people(api)
        for conversation_id in (zora, yan):  # greeting + answer: ledger, events, replies all exist
            wait_for(lambda c=conversation_id: _bot_replies(api, c) >= 2, what="greeting and answer", timeout_s=60)
        assert {t for t, _c, _n in database_hits(settings, ZORA_NEEDLES)} >= {"conversations", "inbox_messages"}
        workload = {b["name"]: b["current_workload"] for b in api.get("/api/admin/brokers", headers=ADMIN)
                    .json()["brokers"]}

        assert api.delete("/api/admin/contacts", params={"email": ZORA["email"]}).status_code == 401
        response = api.delete("/api/admin/contacts", params={"email": "ZoraBel.QUIST@Example.COM"}, headers=ADMIN)
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        assert report["nothing_found"] is False and report["conversation_ids"] == [zora]
        deleted = report["deleted"]
        assert deleted["conversations"] == deleted["inbox_contacts"] == deleted["inbox_conversations"] == 1
        assert deleted["inbox_messages"] >= 4 and deleted["reply_ledger"] >= 2 and deleted["chat_events"] >= 3
        assert deleted["broker_conversations"] == 1 and report["broker_slots_released"] == 1
        assert report["redis_streams_deleted"] == 1 and report["chatwoot"] == []

        assert database_hits(settings, ZORA_NEEDLES) == []
        assert redis_hits(settings, ZORA_NEEDLES) == []
        assert not redis_key_exists(settings, stream_name(settings.queue_prefix, zora))
        assert api.get(f"/api/conversations/{zora}", headers=ADMIN).status_code == 404
        _assert_other_person_intact(settings, yan)
        after = {b["name"]: b["current_workload"] for b in api.get("/api/admin/brokers", headers=ADMIN)
                 .json()["brokers"]}
        assert sum(workload.values()) - sum(after.values()) == 1
        _reconcile_corrects_nothing(settings)

        # A job that was still queued for the erased conversation ends quietly: no failure, retry or apology.
        job = IncomingMessageJob(conversation_id=zora, message_id="424242")
        _queue_job(settings, job)
        wait_for(lambda: f"{job.job_id} attempt 1: skipped: conversation erased" in workers[0].log(),
                 what="the job skipped", timeout_s=30)
        assert f"job {job.job_id} failed" not in workers[0].log()
        assert database_hits(settings, ZORA_NEEDLES) == []
        assert query(settings, "SELECT id FROM conversations WHERE id = :c", c=zora) == []


def test_an_unknown_or_malformed_address(make_settings, db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(db_url)
    with running_api(settings) as api:
        _two_people(api, with_messages=False)
        before = database_hits(settings, ZORA_NEEDLES + YAN_NEEDLES)
        response = api.delete("/api/admin/contacts", params={"email": "nobody@example.net"}, headers=ADMIN)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["nothing_found"] is True and report["conversation_ids"] == []
        assert set(report["deleted"].values()) == {0} and report["broker_slots_released"] == 0
        for bad in ("not-an-email", "a@b", "x" * 400):
            refused = api.delete("/api/admin/contacts", params={"email": bad}, headers=ADMIN)
            assert refused.status_code == 422, (bad, refused.text)
            assert "error" in refused.json()
        assert database_hits(settings, ZORA_NEEDLES + YAN_NEEDLES) == before


def test_the_erase_command(make_settings, db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(db_url)
    with running_api(settings) as api:
        zora, yan = _two_people(api)
    assert redis_key_exists(settings, stream_name(settings.queue_prefix, zora))  # conversation:created

    erased = _cli(settings, "erase", "--email", "ZORABEL.QUIST@example.com")
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert f"erased 1 conversation(s): {zora}" in erased.stdout
    assert "inbox_contacts: 1" in erased.stdout and "redis event streams deleted: 1" in erased.stdout
    assert database_hits(settings, ZORA_NEEDLES) == [] and redis_hits(settings, ZORA_NEEDLES) == []
    _assert_other_person_intact(settings, yan)
    _reconcile_corrects_nothing(settings)

    again = _cli(settings, "erase", "--email", ZORA["email"])
    assert again.returncode == 0 and "nothing found" in again.stdout, again.stdout + again.stderr
    malformed = _cli(settings, "erase", "--email", "zorabel.quist-at-example.com")
    assert malformed.returncode == 2 and "not a valid e-mail address" in malformed.stderr, malformed.stderr


def _backdate(settings: Settings, conversation_id: int) -> None:
    execute(settings, "UPDATE conversations SET last_activity_at = :t WHERE id = :c",
            t=datetime(2020, 1, 1, tzinfo=UTC), c=conversation_id)


def test_purge_by_age(make_settings, db_url: str) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(db_url)
    with running_api(settings) as api:
        zora, yan = _two_people(api)
        _backdate(settings, zora)
        assert api.delete("/api/admin/conversations", params={"older_than_days": 30}).status_code == 401
        response = api.delete("/api/admin/conversations", params={"older_than_days": 30}, headers=ADMIN)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["scope"] == "age" and report["conversation_ids"] == [zora]
        assert report["deleted"]["inbox_contacts"] == 1 and report["redis_streams_deleted"] == 1
        assert database_hits(settings, ZORA_NEEDLES) == [] and redis_hits(settings, ZORA_NEEDLES) == []
        _assert_other_person_intact(settings, yan)
        _reconcile_corrects_nothing(settings)

        assert api.delete("/api/admin/conversations", params={"older_than_days": 0},
                          headers=ADMIN).status_code == 422
        refused = _cli(settings, "purge", "--older-than", "0")
        assert refused.returncode == 2, refused.stdout + refused.stderr

        # The command, without REDIS_URL: the database is purged and the report says the streams were not.
        _backdate(settings, yan)
        purged = _cli(settings, "purge", "--older-than", "30", without=("REDIS_URL",))
        assert purged.returncode == 0, purged.stdout + purged.stderr
        assert f"erased 1 conversation(s): {yan}" in purged.stdout
        assert "redis event streams deleted: not cleared" in purged.stdout and "REDIS_URL" in purged.stdout
        assert database_hits(settings, YAN_NEEDLES) == []
        nothing = _cli(settings, "purge", "--older-than", "30")
        assert nothing.returncode == 0 and "nothing found" in nothing.stdout, nothing.stdout + nothing.stderr
