"""Per-request Redis time budget (see `adapters/queue/redis_budget.py`): a request that needs Redis while it is
down answers 503 within `ENQUEUE_TIMEOUT_S`, however many Redis calls it makes."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from aibroker.adapters.queue.redis_budget import request_budget


class RedisBudget:
    """Pure ASGI middleware: the budget lives in a context variable the request's handlers see."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self._app = app
        self._seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        with request_budget(self._seconds):
            await self._app(scope, receive, send)
