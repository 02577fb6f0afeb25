"""The legacy n8n workflow's webhook (N8N_AI_BROKER_WEBHOOK_URL), called over httpx.

Any answer but 2xx, a timeout or a refused connection raises `DependencyUnavailable`: the forward job fails that
attempt and the queue retries it with backoff; after its last attempt it stays in the failed-jobs list.
"""

from __future__ import annotations

from typing import Any

import httpx

from aibroker.errors import DependencyUnavailable


class N8nWebhook:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def forward(self, body: dict[str, Any]) -> None:
        try:
            response = await self._client.post(self.url, json=body)
        except httpx.HTTPError as error:
            raise DependencyUnavailable("n8n", f"{type(error).__name__}") from error
        if not response.is_success:
            raise DependencyUnavailable("n8n", f"HTTP {response.status_code}")

    async def reachable(self) -> bool:
        """Whether the workflow's server answers at all (n8n answers GET on a POST webhook with 404)."""
        try:
            await self._client.get(self.url)
            return True
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
