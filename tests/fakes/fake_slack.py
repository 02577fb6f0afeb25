"""A fake Slack incoming webhook (and a generic JSON alert endpoint): a real HTTP server that records what it gets
and fails on demand.

Slack's protocol: POST a JSON body with `text` to the webhook URL; it answers 200 with the body `ok`, or 400
`invalid_payload` / `no_text` for a body it cannot post (and a 5xx while it is down).

    with running_fake_slack() as slack:
        settings = make_settings(..., SLACK_WEBHOOK_URL=slack.url, ALERT_WEBHOOK_URL=slack.webhook_url)
        slack.fail_all(status=500)    # Slack is down
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
        self.refused: list[Any] = []
        self._fail_status: int | None = None
        self.base_url = ""

    @property
    def url(self) -> str:
        """The Slack incoming webhook's URL."""
        return f"{self.base_url}{SLACK_PATH}"

    slack_url = url

    @property
    def webhook_url(self) -> str:
        """The generic JSON alert endpoint's URL."""
        return f"{self.base_url}{WEBHOOK_PATH}"

    def fail_all(self, status: int = 500) -> None:
        with self.lock:
            self._fail_status = status

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
            with self.lock:
                if self._fail_status is not None:
                    self.refused.append(body)
                    return PlainTextResponse("service_unavailable", status_code=self._fail_status)
                if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
                    self.refused.append(body)
                    return PlainTextResponse("no_text", status_code=400)
                self._texts.append(body["text"])
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
