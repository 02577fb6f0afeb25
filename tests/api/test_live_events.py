"""Server-sent events, typing and resume links (issue #12 items 4, 5, 7) on the real API, Redis and database.

No worker runs here except in the last test: the events come from lead intake, the customer's own messages and
typing. `tests/web/test_live_chat.py` drives the same streams from Chromium.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from aibroker.config import Settings
from tests.support.app import ADMIN, LEAD, customer_headers, running_api, running_workers, worker_env
from tests.support.servers import free_port, wait_for

SECRET = "a-test-session-secret-of-some-length"
FOLLOW = {"Accept": "text/event-stream"}


def parse(text: str) -> list[dict[str, Any]]:
    """SSE frames → [{id, event, data}] (comments and the retry hint dropped)."""
    events = []
    for frame in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if line and not line.startswith(":")
                      and ": " in line)
        if "event" in fields:
            events.append({"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])})
    return events


class Follower:
    """An open stream read on a thread, as a browser holds one: its events as they arrive."""

    def __init__(self, client: httpx.Client, path: str, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.ended = threading.Event()
        self.hang_up = threading.Event()
        self.status = 0
        self._buffer = ""
        self._thread = threading.Thread(target=self._run, args=(client, path, headers), daemon=True)

    def _run(self, client: httpx.Client, path: str, headers: dict[str, str]) -> None:
        try:
            with client.stream("GET", path, headers={**FOLLOW, **headers}, timeout=httpx.Timeout(30, read=60)) as r:
                self.status = r.status_code
                for chunk in r.iter_text():
                    if self.hang_up.is_set():
                        return  # leaving the block closes the connection, as a closed browser tab does
                    self._buffer += chunk
                    *frames, self._buffer = self._buffer.split("\n\n")
                    self.events += parse("\n\n".join(frames) + "\n\n")
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def messages(self) -> list[str]:
        return [e["data"]["content"] for e in self.events if e["event"] == "message"]


@contextmanager
def following(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> Iterator[Follower]:
    follower = Follower(client, path, headers or {})
    follower._thread.start()
    wait_for(lambda: follower.status or follower.ended.is_set(), what="the stream to open")
    yield follower


@pytest.fixture
def settings(make_settings, e2e_db_url: str) -> Settings:  # type: ignore[no-untyped-def]
    built: Settings = make_settings(e2e_db_url, SESSION_SECRET=SECRET, SSE_MAX_CONNECTIONS=2)
    return built


def _lead(api: httpx.Client, email: str) -> dict[str, Any]:
    response = api.post("/api/leads", json={**LEAD, "email": email})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _say(api: httpx.Client, lead: dict[str, Any], text: str, **extra: Any) -> None:
    response = api.post(f"/api/conversations/{lead['conversation_id']}/messages", headers=customer_headers(lead),
                        json={"content": text, **extra})
    assert response.status_code == 202, response.text


def test_replay_after_last_event_id_then_live_nothing_lost_nothing_twice(settings: Settings) -> None:
    with running_api(settings) as api:
        lead = _lead(api, "ann.tan@example.com")
        path, token = f"/api/conversations/{lead['conversation_id']}/events", {"token": lead["conversation_token"]}
        _say(api, lead, "first question")
        _say(api, lead, "second question")
        backlog = api.get(path, params=token)  # not an EventSource: what is there, then the response ends
        assert backlog.status_code == 200 and backlog.headers["content-type"].startswith("text/event-stream")
        assert backlog.headers["cache-control"] == "no-store"
        events = parse(backlog.text)
        assert [e["event"] for e in events] == ["status", "message", "message"]
        assert events[0]["data"] == {"conversation_id": lead["conversation_id"], "owner": "bot", "status": "pending"}
        assert [e["data"]["content"] for e in events[1:]] == ["first question", "second question"]
        assert {e["data"]["role"] for e in events[1:]} == {"customer"}
        ids = [e["id"] for e in events]
        assert len(set(ids)) == len(ids)
        # A reconnect with Last-Event-ID gets exactly what came after it; the header token works as well.
        after_first = parse(api.get(path, headers={**customer_headers(lead), "Last-Event-ID": ids[0]}).text)
        assert after_first == events[1:]
        assert parse(api.get(path, params=token, headers={"Last-Event-ID": ids[-1]}).text) == []

        # Live: a stream resumed after the first message sees the second once, then new messages as they come.
        with following(api, path + f"?token={lead['conversation_token']}", {"Last-Event-ID": ids[1]}) as live:
            _say(api, lead, "third question")
            api.post(f"/api/conversations/{lead['conversation_id']}/typing", headers=customer_headers(lead),
                     json={"on": True})
            _say(api, lead, "fourth question")
            wait_for(lambda: len(live.messages()) == 3 and any(e["event"] == "typing" for e in live.events),
                     what="live events")
            assert live.messages() == ["second question", "third question", "fourth question"]
            assert [e["data"] for e in live.events if e["event"] == "typing"] == [
                {"conversation_id": lead["conversation_id"], "who": "customer", "on": True}]
            assert len({e["id"] for e in live.events}) == len(live.events)
            assert all(e["id"] > ids[1] for e in live.events)


def test_who_may_open_which_stream(settings: Settings) -> None:
    with running_api(settings) as api:
        ann, bob = _lead(api, "ann.tan@example.com"), _lead(api, "bob.lim@example.com")
        _say(api, ann, "ann's words")
        _say(api, bob, "bob's words")
        missing = api.get("/api/conversations/999999/events")
        assert (missing.status_code, missing.content) == (404, b'{"error":"conversation not found"}')
        path = f"/api/conversations/{ann['conversation_id']}/events"
        for params in ({}, {"token": "wrong"}, {"token": bob["conversation_token"]}):
            refused = api.get(path, params=params)
            assert (refused.status_code, refused.content) == (missing.status_code, missing.content)
        assert api.get(path, params={"token": ann["conversation_token"]}, headers={"Last-Event-ID": "x"}
                       ).status_code == 422
        # Each customer sees only their own conversation; the console (admin token, for now) sees every one.
        assert [m["data"]["content"] for m in parse(api.get(path, params={"token": ann["conversation_token"]}).text)
                if m["event"] == "message"] == ["ann's words"]
        assert api.get("/api/console/events").status_code == 401
        assert api.get("/api/console/events", headers={"Authorization": "Bearer wrong"}).status_code == 401
        everything = parse(api.get("/api/console/events", headers=ADMIN).text)
        assert [e["data"]["content"] for e in everything if e["event"] == "message"] == ["ann's words", "bob's words"]
        resumed = parse(api.get("/api/console/events", headers={**ADMIN, "Last-Event-ID": everything[-2]["id"]}).text)
        assert resumed == everything[-1:]


def test_erasure_takes_the_words_out_of_every_stream(settings: Settings) -> None:
    with running_api(settings) as api:
        ann, bob = _lead(api, "ann.tan@example.com"), _lead(api, "bob.lim@example.com")
        _say(api, ann, "my secret plans")
        _say(api, bob, "bob stays")
        erased = api.delete("/api/admin/contacts", params={"email": "ann.tan@example.com"}, headers=ADMIN)
        assert erased.status_code == 200, erased.text
        everything = api.get("/api/console/events", headers=ADMIN).text
        assert "my secret plans" not in everything and "bob stays" in everything
        assert {e["data"]["conversation_id"] for e in parse(everything)} == {bob["conversation_id"]}
        assert api.get(f"/api/conversations/{ann['conversation_id']}/events",
                       params={"token": ann["conversation_token"]}).status_code == 404


def test_open_streams_are_bounded(settings: Settings) -> None:  # SSE_MAX_CONNECTIONS=2
    with running_api(settings) as api:
        lead = _lead(api, "ann.tan@example.com")
        path = f"/api/conversations/{lead['conversation_id']}/events?token={lead['conversation_token']}"
        with following(api, path) as one, following(api, "/api/console/events", ADMIN) as two:
            assert one.status == two.status == 200
            refused = api.get(path, headers=FOLLOW)
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert refused.json()["part"] == "live events"
            one.hang_up.set()  # the client goes away: its place is free again (seen at its next heartbeat or event)
            _say(api, lead, "wake the stream")
            wait_for(lambda: api.get(path).status_code == 200, what="a free place after the client left")


def test_customer_typing_is_throttled_and_carries_no_text(settings: Settings) -> None:
    with running_api(settings) as api:
        lead = _lead(api, "ann.tan@example.com")
        typing = f"/api/conversations/{lead['conversation_id']}/typing"
        # A second "typing" inside the window is dropped; a "stopped" ends the window, so typing again right after
        # (the customer sent a message and starts the next) is shown.
        answers = [api.post(typing, headers=customer_headers(lead), json={"on": on})
                   for on in (True, True, False, True)]
        assert [(a.status_code, a.json()["sent"]) for a in answers] == [(202, True), (202, False), (202, True),
                                                                        (202, True)]
        assert api.post(typing, json={"on": True}).status_code == 404
        assert api.post(typing, headers=customer_headers(lead), json={"on": "maybe"}).status_code == 422
        seen = [e["data"] for e in parse(api.get("/api/console/events", headers=ADMIN).text) if e["event"] == "typing"]
        assert seen == [{"conversation_id": lead["conversation_id"], "who": "customer", "on": on}
                        for on in (True, False, True)]


def test_a_resume_link_works_once(settings: Settings, make_settings, e2e_db_url: str) -> None:  # type: ignore[no-untyped-def]
    with running_api(settings) as api:
        lead = _lead(api, "ann.tan@example.com")
        link_path = f"/api/conversations/{lead['conversation_id']}/resume-link"
        assert api.post(link_path).status_code == 404
        assert api.post(link_path, headers=ADMIN).status_code == 422  # the admin token cannot be handed on
        link = api.post(link_path, headers=customer_headers(lead))
        assert link.status_code == 200 and link.headers["cache-control"] == "no-store"
        assert link.json()["expires_in_s"] == 900 and link.json()["path"].startswith("/?resume=")
        resume_token = link.json()["path"].removeprefix("/?resume=")

        redeemed = api.post("/api/resume", json={"resume_token": resume_token})
        assert redeemed.status_code == 200, redeemed.text
        body = redeemed.json()
        assert body["conversation_id"] == lead["conversation_id"]
        assert body["conversation_token"] == lead["conversation_token"]  # both devices keep working
        assert body["broker"] == lead["broker"] and redeemed.headers["cache-control"] == "no-store"
        again = api.post("/api/resume", json={"resume_token": resume_token})
        assert again.status_code == 410 and "used already" in again.json()["error"]
        forged = api.post("/api/resume", json={"resume_token": resume_token[:-2] + "xx"})
        assert forged.status_code == 401 and forged.json()["error"] == "not a valid resume link"

    # Without SESSION_SECRET there are no links (and no way to forge one).
    with running_api(make_settings(e2e_db_url)) as plain:
        lead = _lead(plain, "bob.lim@example.com")
        off = plain.post(f"/api/conversations/{lead['conversation_id']}/resume-link", headers=customer_headers(lead))
        assert off.status_code == 404 and "SESSION_SECRET" in off.json()["error"]
        assert plain.post("/api/resume", json={"resume_token": resume_token}).status_code == 404


def test_shutdown_ends_open_streams(settings: Settings, tmp_path: Path) -> None:
    """`aibroker serve` on SIGTERM with a browser's stream open: the stream ends and the process exits."""
    port = free_port()
    env = {**os.environ, **worker_env(settings), "PORT": str(port), "HOST": "127.0.0.1"}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "aibroker.cli", "serve"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            def up() -> bool:
                try:
                    return api.get("/api/config/public").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(up, timeout_s=30, what="aibroker serve to start")
            with following(api, "/api/console/events", ADMIN) as stream:
                assert stream.status == 200
                server.send_signal(signal.SIGTERM)
                assert stream.ended.wait(15), "the open stream did not end on SIGTERM"
            assert server.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_a_worker_process_reaches_the_customer_stream(settings: Settings, tmp_path: Path) -> None:
    """API and worker as separate processes: the greeting and the reply come through Redis, with their texts and
    quick replies, the reply after a `read` of the customer's message."""
    with running_api(settings) as api, running_workers(settings, tmp_path):
        lead = _lead(api, "ann.tan@example.com")
        path = f"/api/conversations/{lead['conversation_id']}/events?token={lead['conversation_token']}"
        with following(api, path) as live:
            wait_for(lambda: any(e["data"].get("role") == "bot" for e in live.events if e["event"] == "message"),
                     timeout_s=30, what="the greeting")
            _say(api, lead, "How much can I borrow?")
            wait_for(lambda: len([e for e in live.events if e["event"] == "message" and e["data"]["role"] == "bot"])
                     == 2, timeout_s=30, what="the reply")
        names = [e["event"] for e in live.events]
        greeting, reply = [e["data"] for e in live.events if e["event"] == "message" and e["data"]["role"] == "bot"]
        assert "Ann" in greeting["content"] and 2 <= len(greeting["quick_replies"]) <= 4
        assert "How much can I borrow?" not in reply.get("quick_replies", [])
        mine = next(e for e in live.events if e["event"] == "message" and e["data"]["role"] == "customer")
        read = next(i for i, e in enumerate(live.events) if e["event"] == "read")
        assert live.events[read]["data"]["up_to"] == mine["data"]["id"]
        assert names.index("message", read) > read  # read before the reply
        assert {"typing", "status"} <= set(names)
        assert len({e["id"] for e in live.events}) == len(live.events)


def test_an_agents_reply_reaches_the_customer_stream_with_its_text(settings: Settings) -> None:
    """The console publishes `message:human` with the message id only: the stream reads its text from the inbox."""
    with running_api(settings) as api:
        lead = _lead(api, "ann.tan@example.com")
        conversation_id = lead["conversation_id"]
        path = f"/api/conversations/{conversation_id}/events?token={lead['conversation_token']}"
        with following(api, path) as live:
            assert api.post(f"/api/console/conversations/{conversation_id}/takeover", headers=ADMIN).status_code \
                == 200
            reply = api.post(f"/api/console/conversations/{conversation_id}/messages", headers=ADMIN,
                             json={"content": "Hello Ann, Lee here from the team."})
            assert reply.status_code == 200, reply.text
            wait_for(lambda: "Hello Ann, Lee here from the team." in live.messages(), what="the agent's reply")
        human = [e["data"] for e in live.events if e["event"] == "message" and e["data"]["role"] == "human"]
        assert [m["content"] for m in human] == ["Hello Ann, Lee here from the team."] and human[0]["created_at"]
        assert {"owner": "human", "status": "open"}.items() <= next(
            e["data"] for e in live.events if e["event"] == "status" and e["data"]["owner"] == "human").items()
