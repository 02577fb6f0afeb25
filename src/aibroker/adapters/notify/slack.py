"""Telling operators: Slack's incoming webhook (`post(text)`) and a generic JSON webhook. One sender for every
notice (alerts now; handoff notices can use the same `SlackWebhook.post`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

TIMEOUT_S = 5.0


class SlackWebhook:
    """Slack incoming webhook: POST {"text": …}; Slack answers 200 "ok" (anything else is a refusal)."""

    name = "slack"

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._url = url
        self._timeout_s = timeout_s

    async def post(self, text: str, payload: Mapping[str, Any] | None = None) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            response = await client.post(self._url, json={"text": text})
        response.raise_for_status()


class JsonWebhook:
    """Any endpoint that takes a JSON body (PagerDuty-style relays, n8n, Opsgenie integrations): the payload as is."""

    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self._url = url
        self._timeout_s = timeout_s

    async def post(self, text: str, payload: Mapping[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            response = await client.post(self._url, json=dict(payload))
        response.raise_for_status()
