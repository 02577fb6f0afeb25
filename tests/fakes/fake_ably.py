"""A fake Ably REST endpoint: a real HTTP server speaking the part of Ably's REST API we use.

`POST /channels/{channel}/messages` with HTTP Basic auth (the API key's name and secret), a JSON message
(`id`, `name`, `data`, `encoding`); answers 201 `{"channel", "messageId"}`, or Ably's error shape
`{"error": {"message", "code", "statusCode"}}` with 401 for a wrong key. A repeated message id is accepted and not
stored twice (Ably's idempotent publishing).

    with running_fake_ably("app.key:secret") as ably:
        ...; ably.messages("aibroker:console")   # [{"id", "name", "data"}, ...] in arrival order
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.fake_chatwoot import serve_in_thread


class FakeAbly:
    def __init__(self, api_key: str) -> None:
        self.expected_auth = "Basic " + base64.b64encode(api_key.encode()).decode()
        self.lock = threading.Lock()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0
        self.base_url = ""

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self.lock:
            return [{**m, "data": json.loads(m["data"])} for c, m in self.received if c == channel]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/channels/{channel}/messages")
        async def publish(channel: str, request: Request) -> JSONResponse:
            if request.headers.get("authorization") != self.expected_auth:
                with self.lock:
                    self.refused += 1
                return JSONResponse({"error": {"message": "Invalid credentials", "code": 40101, "statusCode": 401}},
                                    status_code=401)
            message = await request.json()
            with self.lock:
                if not any(c == channel and m.get("id") == message.get("id") for c, m in self.received):
                    self.received.append((channel, message))
            return JSONResponse({"channel": channel, "messageId": message.get("id")}, status_code=201)

        return app


@contextmanager
def running_fake_ably(api_key: str) -> Iterator[FakeAbly]:
    ably = FakeAbly(api_key)
    with serve_in_thread(ably.app()) as base_url:
        ably.base_url = base_url
        yield ably
