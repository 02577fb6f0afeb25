"""A fake Slack incoming webhook: a real HTTP server that records each POSTed body and fails on demand.

    with running_fake_slack() as slack:
        slack.fail_all(status=500)    # Slack is down
        ...; slack.texts()            # the `text` of each accepted message, in order
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from tests.fakes.fake_chatwoot import serve_in_thread

WEBHOOK_PATH = "/services/T000/B000/XXXXXXXX"


class FakeSlack:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self._fail_status: int | None = None
        self.base_url = ""

    @property
    def url(self) -> str:
        return f"{self.base_url}{WEBHOOK_PATH}"

    def fail_all(self, status: int = 500) -> None:
        with self.lock:
            self._fail_status = status

    def texts(self) -> list[str]:
        with self.lock:
            return [str(body["text"]) for body in self.accepted]

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post(WEBHOOK_PATH)
        async def webhook(request: Request) -> PlainTextResponse:
            body = await request.json()
            with self.lock:
                # Slack's own answers: "ok", or an error word such as "invalid_payload" / a 5xx when it is down.
                if self._fail_status is not None:
                    self.refused.append(body)
                    return PlainTextResponse("service_unavailable", status_code=self._fail_status)
                if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
                    self.refused.append(body)
                    return PlainTextResponse("invalid_payload", status_code=400)
                self.accepted.append(body)
            return PlainTextResponse("ok")

        return app


@contextmanager
def running_fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    with serve_in_thread(slack.app()) as base_url:
        slack.base_url = base_url
        yield slack
