"""Connections the database server dropped (a restart, an idle timeout, an operator's pg_terminate_backend) are
met where they are used, not pinged before every use: the API answers that one request with a 503 it can retry,
and a worker runs its job again on fresh connections without spending an attempt. PostgreSQL only (a SQLite
file has no server to drop anything); each test has a database of its own, so every connection to it is ours."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from aibroker.config import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.support.app import ADMIN, LEAD, customer_headers, running_api, running_workers
from tests.support.servers import wait_for

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")


def _drop_every_connection(database_url: str) -> int:
    """Terminate every server process connected to this test's database, as a server restart would."""
    url = make_url(database_url)

    async def terminate() -> int:
        admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                                      database="postgres")
        try:
            return len(await admin.fetch("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                         "WHERE datname = $1 AND pid <> pg_backend_pid()", url.database))
        finally:
            await admin.close()

    return asyncio.run(terminate())


def _bot_replies(api: httpx.Client, conversation_id: int) -> list[str]:
    response = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN)
    return [m["content"] for m in response.json()["messages"] if m["role"] == "bot"] \
        if response.status_code == 200 else []


def test_the_api_answers_503_once_then_works_on_fresh_connections(make_settings, e2e_db_url: str  # type: ignore[no-untyped-def]
                                                                  ) -> None:
    settings: Settings = make_settings(e2e_db_url)
    with running_api(settings) as api:
        lead = api.post("/api/leads", json=LEAD).json()
        route = f"/api/conversations/{lead['conversation_id']}/messages"
        # The same keep-alive connection goes on working (a 503 from the catch-all handler used to close it).
        assert [api.get(route, headers=customer_headers(lead)).status_code for _ in range(3)] == [200] * 3
        assert _drop_every_connection(e2e_db_url) >= 1
        first = api.get(route, headers=customer_headers(lead))
        assert first.status_code == 503 and first.json()["part"] == "database" and first.headers["Retry-After"]
        # The same keep-alive connection goes on working (a 503 from the catch-all handler used to close it).
        assert [api.get(route, headers=customer_headers(lead)).status_code for _ in range(3)] == [200] * 3


def test_a_job_that_meets_a_dropped_connection_runs_again_without_spending_an_attempt(  # type: ignore[no-untyped-def]
        make_settings, e2e_db_url: str, tmp_path: Path) -> None:
    # One attempt only: had the lost connection cost the job its attempt, the customer would get the apology and a
    # handoff instead of an answer.
    settings: Settings = make_settings(e2e_db_url, JOB_ATTEMPTS=1)
    with running_api(settings) as api, running_workers(settings, tmp_path):
        lead = api.post("/api/leads", json=LEAD).json()
        conversation_id = lead["conversation_id"]
        wait_for(lambda: len(_bot_replies(api, conversation_id)) == 1, what="greeting", timeout_s=30)
        wait_for(lambda: _drop_every_connection(e2e_db_url) >= 2, what="the worker's connections dropped too",
                 timeout_s=10)  # (the API's and the worker's; the API's next request may meet its own)
        posted = None
        while posted is None or posted.status_code == 503:
            posted = api.post(f"/api/conversations/{conversation_id}/messages",
                              json={"content": "How does TDSR work?", "client_message_id": "m-1"},
                              headers=customer_headers(lead))
        assert posted.status_code == 202, posted.text
        replies = wait_for(lambda: len(_bot_replies(api, conversation_id)) >= 2 and _bot_replies(api, conversation_id),
                           what="the answer", timeout_s=30)
        assert len(replies) == 2 and "human specialists" not in replies[1] and "TDSR" in replies[1]
