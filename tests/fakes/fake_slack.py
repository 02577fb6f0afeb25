"""A fake Slack incoming webhook (and a generic JSON alert endpoint): a real HTTP server that records what it gets.

Slack's protocol: POST a JSON body with `text` to the webhook URL; it answers 200 with the body `ok`, or 400
`invalid_payload` / `no_text` for a body it cannot post.

    with running_fake_slack() as slack:
        settings = make_settings(..., SLACK_WEBHOOK_URL=slack.slack_url, ALERT_WEBHOOK_URL=slack.webhook_url)
        ...; slack.texts(); slack.payloads()
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from tests.fakes.fake_chatwoot import serve_in_thread

SLACK_PATH = "/services/T0000/B0000/XXXXXXXX"
WEBHOOK_PATH = "/alerts"


class FakeSlack:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._texts: list[str] = []
        self._payloads: list[dict[str, Any]] = []
        self.base_url = ""

    @property
    def slack_url(self) -> str:
        return f"{self.base_url}{SLACK_PATH}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{WEBHOOK_PATH}"

    def texts(self) -> list[str]:
        with self.lock:
            return list(self._texts)

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._payloads)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(SLACK_PATH)
        async def incoming_webhook(request: Request) -> PlainTextResponse:
            try:
                body = await request.json()
            except ValueError:
                return PlainTextResponse("invalid_payload", status_code=400)
            if not isinstance(body, dict) or not body.get("text"):
                return PlainTextResponse("no_text", status_code=400)
            with self.lock:
                self._texts.append(str(body["text"]))
            return PlainTextResponse("ok")

        @app.post(WEBHOOK_PATH)
        async def alert_webhook(request: Request) -> PlainTextResponse:
            body = await request.json()
            with self.lock:
                self._payloads.append(body)
            return PlainTextResponse("accepted", status_code=202)

        return app


@contextmanager
def running_fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    with serve_in_thread(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake
