"""The product's HTTP API under a real server, with or without worker processes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import AliasChoices, SecretStr

from aibroker.api.app import create_app
from aibroker.config import Settings
from tests.support.servers import WorkerProcess, serve_in_thread, terminate_all

LEAD: dict[str, Any] = {
    "name": "Ann Tan", "email": "ann.tan@example.com", "phone": "+6591234567", "loanType": "new_purchase",
    "propertyCategory": "resale", "propertyType": "HDB", "actualIncomes": [8000], "actualAges": [32],
    "employmentType": "employed", "timeline": "next_3_months", "sessionId": "s-1", "consent": True,
}
ADMIN = {"Authorization": "Bearer test-admin-token"}


def customer_headers(lead: Mapping[str, Any]) -> dict[str, str]:
    """What the customer's browser sends on its conversation's routes: the token from `POST /api/leads`'s answer."""
    return {"X-Conversation-Token": str(lead["conversation_token"])}


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment an operator would give `aibroker worker` to share the API's configuration:
    every setting, under its documented variable name."""
    env: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        variable = alias if isinstance(alias, str) else alias.choices[0] if isinstance(alias, AliasChoices) else None
        value = getattr(settings, name)
        if not isinstance(variable, str) or value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[variable] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


@contextmanager
def running_api(settings: Settings) -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(settings, settings.redis_url or "")) as base_url, \
            httpx.Client(base_url=base_url, timeout=15) as client:
        yield client


@contextmanager
def running_workers(settings: Settings, tmp_path: Path, count: int = 1) -> Iterator[list[WorkerProcess]]:
    workers = [WorkerProcess(worker_env(settings), tmp_path / f"worker-{i}.log").start() for i in range(count)]
    try:
        yield workers
    finally:
        terminate_all(workers)
