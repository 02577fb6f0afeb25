"""Start-up validation: a bad setting stops start-up with the variable's name and what it accepts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aibroker.config import ConfigurationError, load_settings


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("BULLMQ_ROLLOUT_PERCENTAGE", "150", "BULLMQ_ROLLOUT_PERCENTAGE=150: Input should be less than or equal to 100"),
    ("BULLMQ_TRAFFIC_PERCENTAGE", "-5", "BULLMQ_ROLLOUT_PERCENTAGE=-5: Input should be greater than or equal to 0"),
    ("WORKER_CONCURRENCY", "lots", "WORKER_CONCURRENCY=lots: Input should be a valid integer"),
    ("REDIS_URL", "http://localhost", "REDIS_URL=http://localhost: Value error, must start with redis://"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL=mysql://x: Value error, must be a postgresql:// or sqlite:// URL"),
    ("PORT", "70000", "PORT=70000: Input should be less than or equal to 65535"),
    ("CHATWOOT_TIMEOUT_S", "0", "CHATWOOT_TIMEOUT_S=0: Input should be greater than 0"),
    ("MAX_STALLED_COUNT", "-1", "MAX_STALLED_COUNT=-1: Input should be greater than or equal to 0"),
    ("WORKER_METRICS_PORT", "0", "WORKER_METRICS_PORT=0: Input should be greater than or equal to 1"),
    ("ALERT_WEBHOOK_URL", "ftp://x", "ALERT_WEBHOOK_URL=ftp://x: Value error, must be an http(s):// URL"),
    ("PUBLIC_BASE_URL", "ops.example.com", "PUBLIC_BASE_URL=ops.example.com: Value error, must be an http(s)://"),
    ("ALERT_WORKER_SILENCE_S", "0", "ALERT_WORKER_SILENCE_S=0: Input should be greater than or equal to 1"),
    ("HUMAN_RESPONSE_ALERT_MINUTES", "0", "HUMAN_RESPONSE_ALERT_MINUTES=0: Input should be greater than or equal to"),
    ("ALERT_CHECK_INTERVAL_S", "0", "ALERT_CHECK_INTERVAL_S=0: Input should be greater than or equal to 0.2"),
])
def test_bad_values_name_the_variable_and_range(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                 expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    assert expected in str(caught.value)


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATWOOT_BASE_URL", "https://chat.example.com")
    monkeypatch.setenv("CHATWOOT_API_TOKEN", "super-secret-token")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "CHATWOOT_ACCOUNT_ID" in message  # (CHATWOOT_INBOX_ID may be unset: every inbox is adopted)
    assert "super-secret-token" not in message


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "CHATWOOT_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    assert settings.sqlalchemy_url == "sqlite+aiosqlite:///var/aibroker.db"
    assert settings.redis_url is None and not settings.uses_chatwoot and not settings.uses_llm
    assert settings.rollout_percentage == 100


def test_postgres_urls_get_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/app")
    assert load_settings(_env_file=None).sqlalchemy_url == "postgresql+asyncpg://u:p@db:5432/app"


def test_cli_refuses_to_start_with_a_readable_message() -> None:
    env = {**os.environ, "BULLMQ_ROLLOUT_PERCENTAGE": "150"}
    result = subprocess.run([sys.executable, "-m", "aibroker.cli", "migrate"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "BULLMQ_ROLLOUT_PERCENTAGE=150" in result.stderr and "less than or equal to 100" in result.stderr
    assert "Traceback" not in result.stderr
