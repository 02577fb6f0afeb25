"""A fake OpenAI-compatible server: real HTTP on 127.0.0.1, scripted per test, recording requests.

Why a server and not a mock: the responder under test uses the official `openai` client, so the
request encoding, retries (429/5xx with `retry-after-ms`), timeouts, SSE parsing and error mapping
are the real ones. Only the model is fake.

Usage::

    with FakeOpenAI.running() as fake:          # uvicorn in a thread, free port
        fake.push_tool_calls(("bsd", {"price": 1_200_000}))
        fake.push_text("BSD is S$32,600.")
        client = AsyncOpenAI(base_url=fake.base_url, api_key="test")
        ...
        assert fake.requests[1]["messages"][-1]["role"] == "tool"

Responses are served in the order pushed, whatever the request; an unscripted request gets a 418
with an OpenAI-shaped error (not retried by the client), and is counted in `unscripted`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse


@dataclass(frozen=True)
class ScriptedText:
    text: str
    delay_s: float = 0.0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class ScriptedToolCalls:
    calls: tuple[tuple[str, dict[str, Any] | str], ...]  # (name, arguments as dict or raw JSON text)
    delay_s: float = 0.0


@dataclass(frozen=True)
class ScriptedError:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Scripted = ScriptedText | ScriptedToolCalls | ScriptedError

# Bodies as api.openai.com sends them.
RATE_LIMIT_BODY = {"error": {
    "message": "Rate limit reached for gpt-4o-mini in organization org-test on requests per min (RPM): "
               "Limit 3, Used 3, Requested 1. Please try again in 20s.",
    "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
SERVER_ERROR_BODY = {"error": {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error", "param": None, "code": None}}
_UNSCRIPTED_BODY = {"error": {"message": "fake_openai: no scripted response left for this request",
                              "type": "invalid_request_error", "param": None, "code": "unscripted"}}


class FakeOpenAI:
    """Holds the script and the recorded requests; `app` serves them. Thread-safe between test and server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Scripted] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.unscripted = 0
        self.base_url = ""
        self._ids = itertools.count(1)
        self.app = self._build_app()

    # --- scripting -------------------------------------------------------------------------------
    def push(self, *items: Scripted) -> None:
        with self._lock:
            self._script.extend(items)

    def push_text(self, text: str, *, delay_s: float = 0.0) -> None:
        self.push(ScriptedText(text, delay_s))

    def push_tool_calls(self, *calls: tuple[str, dict[str, Any] | str], delay_s: float = 0.0) -> None:
        self.push(ScriptedToolCalls(tuple(calls), delay_s))

    def push_error(self, status: int, *, times: int = 1, retry_after_ms: int | None = 1) -> None:
        body = RATE_LIMIT_BODY if status == 429 else SERVER_ERROR_BODY
        # A tiny retry-after keeps the client's own retries fast in tests, as the real header would.
        headers = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
        self.push(*(ScriptedError(status, body, headers) for _ in range(times)))

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.headers.clear()
            self.unscripted = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Scripted | None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if not self._script:
                self.unscripted += 1
                return None
            return self._script.popleft()

    # --- the HTTP side -------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> Response:
            body = await request.json()
            item = self._next(body, dict(request.headers))
            if item is None:
                return JSONResponse(_UNSCRIPTED_BODY, status_code=418)
            if item.delay_s:
                await asyncio.sleep(item.delay_s)
            if isinstance(item, ScriptedError):
                return JSONResponse(item.body, status_code=item.status,
                                    headers={"x-request-id": f"req_{next(self._ids)}", **item.headers})
            model = str(body.get("model", "gpt-4o-mini"))
            completion_id = f"chatcmpl-fake{next(self._ids)}"
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return StreamingResponse(_sse(item, completion_id, model, include_usage),
                                         media_type="text/event-stream")
            return JSONResponse(_completion(item, completion_id, model))

        return app

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[FakeOpenAI]:
        """Serve on a free port of 127.0.0.1 in a background thread until the block ends."""
        fake = cls()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(fake.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        fake.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            yield fake
        finally:
            server.should_exit = True
            thread.join(timeout=5)
            sock.close()


def _tool_calls(item: ScriptedToolCalls, prefix: str) -> list[dict[str, Any]]:
    return [{"id": f"call_{prefix}_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(item.calls)]


def _completion(item: ScriptedText | ScriptedToolCalls, completion_id: str, model: str) -> dict[str, Any]:
    if isinstance(item, ScriptedText):
        message: dict[str, Any] = {"role": "assistant", "content": item.text, "refusal": None}
        finish = item.finish_reason
    else:
        message = {"role": "assistant", "content": None, "refusal": None,
                   "tool_calls": _tool_calls(item, completion_id[-6:])}
        finish = "tool_calls"
    return {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            "system_fingerprint": "fp_fake"}


def _chunk(completion_id: str, model: str, delta: dict[str, Any], finish: str | None) -> str:
    chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
             "model": model, "system_fingerprint": "fp_fake",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return f"data: {json.dumps(chunk)}\n\n"


async def _sse(item: ScriptedText | ScriptedToolCalls, completion_id: str, model: str,
               include_usage: bool) -> AsyncIterator[str]:
    yield _chunk(completion_id, model, {"role": "assistant", "content": ""}, None)
    if isinstance(item, ScriptedText):
        # Word-sized pieces, as a real model streams them.
        words = item.text.split(" ")
        for i, word in enumerate(words):
            yield _chunk(completion_id, model, {"content": word if i == 0 else " " + word}, None)
            await asyncio.sleep(0)
        finish = item.finish_reason
    else:
        for index, call in enumerate(_tool_calls(item, completion_id[-6:])):
            head = {"index": index, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            yield _chunk(completion_id, model, {"tool_calls": [head]}, None)
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), 8):
                part = {"index": index, "function": {"arguments": arguments[start:start + 8]}}
                yield _chunk(completion_id, model, {"tool_calls": [part]}, None)
        finish = "tool_calls"
    yield _chunk(completion_id, model, {}, finish)
    if include_usage:
        usage = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": model, "choices": [],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"
