"""A fake n8n workflow webhook: a real HTTP server that records every body it receives and fails on demand.

    with running_fake_n8n() as n8n:
        n8n.fail_next(2, status=503)      # the next two calls answer 503, then it recovers
    n8n.hold_next(); n8n.release()    # the next call hangs until released
        ...; n8n.bodies                    # what was received and accepted (2xx), in order
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.fake_chatwoot import serve_in_thread

WEBHOOK_PATH = "/webhook/ai-broker"


class FakeN8n:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []  # accepted
        self.refused: list[dict[str, Any]] = []  # answered with a failure
        self._failures: list[int] = []
        self.held: list[dict[str, Any]] = []  # received while on hold: never answered before `release`
        self._hold = 0
        self._released = threading.Event()
        self.base_url = ""

    @property
    def url(self) -> str:
        return f"{self.base_url}{WEBHOOK_PATH}"

    def fail_next(self, count: int, *, status: int = 503) -> None:
        with self.lock:
            self._failures.extend([status] * count)

    def hold_next(self, count: int = 1) -> None:
        """The next `count` calls get no answer until `release` (a workflow that hangs)."""
        with self.lock:
            self._hold += count
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bodies)

    def message_ids(self) -> list[str]:
        return [str(body["message_id"]) for body in self.received()]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(WEBHOOK_PATH)
        async def webhook(request: Request) -> JSONResponse:
            body = await request.json()
            with self.lock:
                hold = self._hold > 0
                if hold:
                    self._hold -= 1
                    self.held.append(body)
            if hold:
                await asyncio.to_thread(self._released.wait, 60)
                return JSONResponse({"message": "too late"}, status_code=504)
            with self.lock:
                if self._failures:
                    self.refused.append(body)
                    return JSONResponse({"message": "Workflow failed"}, status_code=self._failures.pop(0))
                self.bodies.append(body)
            return JSONResponse({"message": "Workflow was started"})

        return app


@contextmanager
def running_fake_n8n() -> Iterator[FakeN8n]:
    n8n = FakeN8n()
    with serve_in_thread(n8n.app()) as base_url:
        n8n.base_url = base_url
        yield n8n
