"""Issue #11 with the built-in inbox (no Chatwoot): legacy forwarding from the web chat, start-up refusal, the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aibroker.cli import app
from aibroker.config import ConfigurationError, Settings, load_settings
from tests.fakes.fake_n8n import running_fake_n8n
from tests.support.app import ADMIN, LEAD, running_api, running_workers
from tests.support.servers import wait_for

MakeSettings = Callable[..., Settings]


def test_web_chat_messages_of_a_legacy_conversation_reach_n8n(make_settings: MakeSettings, e2e_db_url: str,
                                                               tmp_path: Path) -> None:
    with running_fake_n8n() as n8n:
        settings = make_settings(e2e_db_url, BULLMQ_ROLLOUT_PERCENTAGE=0, N8N_AI_BROKER_WEBHOOK_URL=n8n.url)
        with running_api(settings) as api, running_workers(settings, tmp_path, count=1):
            conversation_id = api.post("/api/leads", json=LEAD).json()["conversation_id"]
            sent = api.post(f"/api/conversations/{conversation_id}/messages", json={"content": "hello n8n"},
                            headers=ADMIN)
            assert sent.status_code == 202, sent.text
            wait_for(n8n.received, timeout_s=30, what="forward to n8n")
            body = n8n.received()[0]
            assert body["message"] == "hello n8n" and body["message_id"] == sent.json()["message_id"]
            messages = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN).json()["messages"]
            assert [m["role"] for m in messages if m["role"] != "system"] == ["customer"]  # aibroker said nothing


def test_start_up_refuses_a_legacy_route_without_the_n8n_url() -> None:
    for env in ({"BULLMQ_ROLLOUT_PERCENTAGE": 10}, {"ENABLE_BULLMQ_BROKER": False}):
        with pytest.raises(ConfigurationError) as refused:
            load_settings(_env_file=None, **env)
        assert "N8N_AI_BROKER_WEBHOOK_URL" in str(refused.value) and next(iter(env)) in str(refused.value)
    assert load_settings(_env_file=None, BULLMQ_ROLLOUT_PERCENTAGE=10,
                         N8N_AI_BROKER_WEBHOOK_URL="http://n8n.example/webhook").rollout_percentage == 10


def test_rollout_cli_sets_shows_and_refuses(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("N8N_AI_BROKER_WEBHOOK_URL", raising=False)
    runner = CliRunner()
    refused = runner.invoke(app, ["rollout", "set", "--percentage", "10"])
    assert refused.exit_code == 2 and "N8N_AI_BROKER_WEBHOOK_URL" in refused.output
    monkeypatch.setenv("N8N_AI_BROKER_WEBHOOK_URL", "http://n8n.example/webhook")
    done = runner.invoke(app, ["rollout", "set", "--percentage", "10", "--shadow", "--by", "anna"])
    assert done.exit_code == 0, done.output
    shown = runner.invoke(app, ["rollout", "show"])
    assert '"rollout_percentage": 10' in shown.output and '"actor": "cli:anna"' in shown.output
    assert runner.invoke(app, ["rollout", "set", "--no-broker"]).exit_code == 0  # the one-command rollback
    assert '"enable_bullmq_broker": false' in runner.invoke(app, ["rollout", "show"]).output
