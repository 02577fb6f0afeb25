"""Health and worker status: anyone learns whether the service works; only operators see how it is deployed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app import ADMIN, running_api, running_workers
from tests.support.servers import wait_for


@pytest.fixture
def api(make_settings, e2e_db_url: str) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    with running_api(make_settings(e2e_db_url)) as client:
        yield client


def test_anonymous_health_says_only_the_status_and_what_fails(api: httpx.Client) -> None:
    response = api.get("/api/health")
    assert response.status_code == 503
    # No worker runs in this test; whether the queue is paused is said to anyone (it is not a failure).
    assert response.json() == {"status": "degraded", "failing": ["worker"], "paused": False}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Admin-Token": "wrong"}])
def test_a_wrong_token_gets_the_anonymous_view(api: httpx.Client, headers: dict[str, str]) -> None:
    assert set(api.get("/api/health", headers=headers).json()) == {"status", "failing", "paused"}
    assert set(api.get("/api/worker/status", headers=headers).json()) == {"running", "paused"}


def test_operators_see_the_parts(api: httpx.Client) -> None:
    body = api.get("/api/health", headers=ADMIN).json()
    assert body["failing"] == ["worker"] and body["parts"]["database"]["revision"]
    assert "no worker heartbeat" in body["parts"]["worker"]["error"]


def test_worker_hosts_and_pids_need_the_admin_token(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    settings = make_settings(e2e_db_url)
    with running_api(settings) as api, running_workers(settings, tmp_path):
        wait_for(lambda: api.get("/api/health").status_code == 200, what="a healthy service", timeout_s=60)
        anonymous = api.get("/api/health").json()
        assert anonymous == {"status": "ok", "failing": [], "paused": False}
        status = api.get("/api/worker/status")
        assert status.json() == {"running": True, "paused": False}
        admin = api.get("/api/worker/status", headers=ADMIN).json()
        beat = admin["workers"][0]
        host_and_pid = [str(value) for key, value in beat.items() if key in ("host", "hostname", "pid")]
        assert host_and_pid and not any(part in status.text for part in host_and_pid)
        assert api.get("/api/health", headers=ADMIN).json()["parts"]["worker"]["count"] == 1
