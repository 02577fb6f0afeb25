"""Operating it end to end (issue #13), with a real API and a real worker process: the queue paused from the CLI
keeps a lead's greeting until resumed from the API; analytics, /metrics and the worker's metrics port report it;
`aibroker smoke` passes and is left out of the figures; `aibroker monitor` shows the deployment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from aibroker.config import Settings
from tests.support.app import ADMIN, LEAD, customer_headers, running_api, running_workers, worker_env
from tests.support.cli import cli
from tests.support.servers import free_port, wait_for


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aibroker.cli", *args], env={**os.environ, **worker_env(settings)},
                          capture_output=True, text=True, timeout=60)


def _bot_replies(api: httpx.Client, conversation_id: int) -> list[dict[str, Any]]:
    messages = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN).json()["messages"]
    return [m for m in messages if m["role"] == "bot"]


def _analytics(api: httpx.Client) -> dict[str, Any]:
    response = api.get("/api/admin/analytics", params={"window": "1h"}, headers=ADMIN)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_pause_resume_analytics_and_metrics(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                            tmp_path: Path) -> None:
    metrics_port = free_port()
    settings: Settings = make_settings(e2e_db_url, WORKER_METRICS_PORT=metrics_port)
    with running_api(settings) as api, running_workers(settings, tmp_path):
        wait_for(lambda: api.get("/api/worker/status").json()["running"], what="worker heartbeat", timeout_s=30)
        paused = _cli(settings, "queue", "pause")
        assert paused.returncode == 0 and "queue paused" in paused.stdout, paused.stderr
        assert api.get("/api/health").json()["paused"] is True  # said to anyone, and not a failure
        assert api.get("/api/worker/status").json() == {"running": True, "paused": True}

        lead = api.post("/api/leads", json=LEAD)
        assert lead.status_code < 300, lead.text  # a paused queue still accepts…
        conversation_id = lead.json()["conversation_id"]
        state = api.get("/api/admin/queue", headers=ADMIN).json()
        assert state["paused"] is True
        assert sum(state["counts"][s] for s in ("paused", "waiting", "prioritized")) == 1  # …and keeps the job
        assert _bot_replies(api, conversation_id) == []

        assert api.post("/api/admin/queue/resume", headers=ADMIN).json() == {"paused": False}
        wait_for(lambda: _bot_replies(api, conversation_id), what="greeting after resume", timeout_s=30)
        api.post(f"/api/conversations/{conversation_id}/messages", json={"content": "How does TDSR work?"},
                 headers=customer_headers(lead.json())).raise_for_status()
        wait_for(lambda: len(_bot_replies(api, conversation_id)) == 2, what="reply", timeout_s=30)

        report = wait_for(lambda: (r := _analytics(api))["messages_answered"] == 1 and r, what="analytics")
        assert report["conversations_started"] == 1 and report["greeting_latency"]["count"] == 1
        assert report["reply_latency"]["count"] == 1 and report["reply_latency"]["p95_ms"] is not None
        assert report["failed_jobs"] == 0 and len(report["series"]) in (12, 13)  # 5-min buckets over the hour
        assert [g["name"] for g in report["per_persona"]] == [lead.json()["broker"]["name"]]

        assert api.get("/metrics").status_code == 401
        scraped = api.get("/metrics", headers=ADMIN)
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        assert 'aibroker_http_request_duration_seconds_count{method="POST",route="/api/leads"' in scraped.text
        assert "aibroker_queue_paused 0.0" in scraped.text
        assert f'aibroker_broker_slots_in_use{{broker="{lead.json()["broker"]["name"]}"}} 1.0' in scraped.text
        assert "aibroker_workers_alive 1.0" in scraped.text

        worker_metrics = wait_for(lambda: "aibroker_reply_latency_seconds_count 1.0" in (
            text := httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text) and text, what="worker metrics")
        assert 'aibroker_jobs_total{name="new-conversation",outcome="completed"} 1.0' in worker_metrics
        assert 'aibroker_jobs_total{name="incoming-message",outcome="completed"} 1.0' in worker_metrics

        marked = api.post(f"/api/admin/conversations/{conversation_id}/smoke-test", headers=ADMIN)
        assert marked.status_code == 200
        after = _analytics(api)
        assert (after["conversations_started"], after["messages_answered"]) == (0, 0)  # smoke tests are left out
        assert api.post("/api/admin/conversations/999999/smoke-test", headers=ADMIN).status_code == 404

        base_url = str(api.base_url).rstrip("/")
        token = ADMIN["Authorization"].removeprefix("Bearer ")
        smoke = cli("smoke", "--base-url", base_url, "--token", token)
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        for step in ("open a test lead", "mark it as a smoke test", "greeting arrives", "ask a question",
                     "reply arrives"):
            assert f"ok    {step} (" in smoke.stdout
        assert "states a figure" in smoke.stdout and "aibroker smoke: passed" in smoke.stdout
        assert _analytics(api)["conversations_started"] == 0  # the smoke test's conversation is left out too

        shown = cli("monitor", "--base-url", base_url, "--token", token, "--once")
        assert shown.returncode == 0, shown.stderr
        for part in ("figures (last hour)", "reply P95", "queue", "workers", "rollout", "share 100 %", "s ago"):
            assert part in shown.stdout, shown.stdout
