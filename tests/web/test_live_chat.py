"""The chat page's live updates in real headless Chromium, against the real app and a real worker process (issue #12
items 4–8): the event stream instead of polling, delivered/read marks, quick-reply chips, a dropped stream that
comes back with nothing lost or doubled, reload, "continue on another device" in a second browser context, axe-core.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from aibroker.config import Settings
from tests.support.app import ADMIN, LEAD, running_api, running_workers
from tests.support.browser import (
    fill_lead_form,
    launched_chromium,
    new_page,
    require_browser,
    serious_accessibility_violations,
)
from tests.support.db import query
from tests.support.proxy import dropping_proxy
from tests.support.servers import wait_for

playwright_sync = require_browser()
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# The README's screenshots: refreshed by `UPDATE_SCREENSHOTS=1 pytest tests/web/test_live_chat.py`; otherwise
# they go to the test's own directory (a test run leaves the checkout as it was).
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def browser(e2e_db_url: str) -> Iterator[Any]:
    """Headless Chromium; started after the database is set up (see `launched_chromium`)."""
    with launched_chromium() as launched:
        yield launched


def _server_messages(api: httpx.Client, conversation_id: int) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = api.get(f"/api/conversations/{conversation_id}/messages",
                                             headers=ADMIN).json()["messages"]
    return [m for m in messages if m["role"] != "system"]


def _bubble_ids(page: Any) -> list[str]:
    ids: list[str] = page.locator("#log .msg").evaluate_all("els => els.map(e => e.dataset.id || '')")
    return ids


def _start(page: Any, base_url: str) -> dict[str, Any]:
    page.goto(base_url + "/")
    fill_lead_form(page, name="Ann Tan", email="ann.tan@example.com")
    with page.expect_response(lambda r: r.url.endswith("/api/leads")) as lead_response:
        page.get_by_role("button", name="Start chat").click()
    lead: dict[str, Any] = lead_response.value.json()
    return lead


def _in_step(api: httpx.Client, page: Any, conversation_id: int, bot_replies: int) -> list[dict[str, str]]:
    """Wait until the page shows exactly the server's messages, each once, in order (with `bot_replies` answers)."""
    def same() -> list[dict[str, str]] | None:
        server = _server_messages(api, conversation_id)
        if len([m for m in server if m["role"] == "bot"]) == bot_replies and _bubble_ids(page) == [
                m["id"] for m in server]:
            return server
        return None

    result: list[dict[str, str]] = wait_for(same, timeout_s=30, what="the page in step with the server")
    return result


def test_the_stream_drives_the_page(make_settings, e2e_db_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                    browser: Any) -> None:
    settings: Settings = make_settings(e2e_db_url, SESSION_SECRET="browser-test-session-secret-0123456789")
    errors: list[str] = []
    with running_api(settings) as api, running_workers(settings, tmp_path), \
            dropping_proxy(int(str(api.base_url).rsplit(":", 1)[1].rstrip("/"))) as network:
        base_url = f"http://127.0.0.1:{network.port}"  # the browser's way to the server, which can be cut
        page = new_page(browser, errors)
        polls: list[str] = []
        streams: list[Any] = []  # each event-stream request
        page.on("request", lambda r: polls.append(r.url) if r.method == "GET" and r.url.endswith("/messages")
                else streams.append(r) if "/events?" in r.url else None)
        lead = _start(page, base_url)
        conversation_id = lead["conversation_id"]

        # The greeting comes over the stream, with the persona's starters as chips; no "reconnecting" notice.
        expect(page.locator('#log .msg[data-role="bot"]')).to_have_count(1, timeout=30_000)
        chips = page.locator("#chips .chip")
        expect(chips.first).to_be_visible()
        assert 2 <= chips.count() <= 4
        expect(page.locator("#live-status")).to_have_text("")
        _in_step(api, page, conversation_id, 1)

        # A chip, used from the keyboard, is sent as the customer's message; it is delivered, read, answered.
        polls_before = len(polls)
        chip_text = chips.first.inner_text()
        chips.first.focus()
        page.keyboard.press("Enter")
        mine = page.locator('#log .msg[data-role="customer"]')
        expect(mine).to_have_count(1)
        expect(mine.locator(".text")).to_have_text(chip_text)
        expect(page.locator('#log .msg[data-role="bot"]')).to_have_count(2, timeout=30_000)
        expect(mine.locator(".receipt")).to_have_text(" · Read")
        server = _in_step(api, page, conversation_id, 2)
        assert [m["content"] for m in server if m["role"] == "customer"] == [chip_text]
        # The reply reached the page over the stream: a poll once after sending (and after status changes), not
        # twice a second.
        assert len(polls) - polls_before <= 3, polls[polls_before:]
        with ThreadPoolExecutor(1) as thread:  # (Playwright's loop runs on this one)
            clicks = thread.submit(query, settings, "SELECT payload FROM chat_events WHERE type = 'quick_reply:clicked'"
                                   ).result()
        assert [json.loads(c["payload"]) if isinstance(c["payload"], str) else c["payload"] for c in clicks] == [
            {"chip": chip_text}]  # counted per chip, for analytics

        # Offline, the page says so.
        page.context.set_offline(True)
        expect(page.locator("#live-status")).to_contain_text("offline")
        page.context.set_offline(False)
        expect(page.locator("#live-status")).to_have_text("")

        # The stream drops (the network between browser and server is cut); the customer writes from another
        # device meanwhile and the broker answers; when the network is back, the page shows both, once each.
        network.down()
        expect(page.locator("#live-status")).to_contain_text("Reconnecting")
        said = api.post(f"/api/conversations/{conversation_id}/messages",
                        headers={"X-Conversation-Token": lead["conversation_token"]},
                        json={"content": "What if I'm 45?"})
        assert said.status_code == 202
        wait_for(lambda: len([m for m in _server_messages(api, conversation_id) if m["role"] == "bot"]) == 3,
                 timeout_s=30, what="the broker's answer while the page was offline")
        reconnects = len(streams)
        network.up()
        _in_step(api, page, conversation_id, 3)
        # The browser reconnected and resumed after the last event it had (Last-Event-ID), not from the start.
        assert any("last-event-id" in r.all_headers() for r in streams[reconnects:]), [
            r.all_headers() for r in streams]
        expect(page.locator("#live-status")).to_have_text("", timeout=30_000)  # the stream is back

        # A reload resumes the conversation, the same messages once each, and the stream again.
        page.reload()
        _in_step(api, page, conversation_id, 3)
        expect(page.get_by_role("heading", name=lead["broker"]["name"])).to_be_visible()
        expect(page.locator("#live-status")).to_have_text("")
        page.context.close()
    assert not errors, errors


def test_continue_on_another_device_and_accessibility(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path, browser: Any) -> None:
    settings: Settings = make_settings(e2e_db_url, SESSION_SECRET="browser-test-session-secret-0123456789")
    errors: list[str] = []
    with running_api(settings) as api, running_workers(settings, tmp_path):
        base_url = str(api.base_url).rstrip("/")
        phone = new_page(browser, errors, 360, 740)
        _slow_connection(phone)  # the phone is also on a slow mobile connection (Chromium's "Slow 3G")
        laptop = new_page(browser, errors)
        lead = _start(phone, base_url)
        # (the emulation is in force: the page itself took at least one slow round trip)
        assert phone.evaluate("performance.getEntriesByType('navigation')[0].responseEnd") >= 400
        expect(phone.locator('#log .msg[data-role="bot"]')).to_have_count(1, timeout=30_000)

        phone.get_by_role("button", name="Continue on another device").click()
        link = phone.get_by_label("Your link to this conversation")
        expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/\?resume=.+"))
        expect(phone.locator("#resume-expiry")).to_contain_text("15 minutes")
        url = link.input_value()

        # The second browser (its own storage) opens the conversation from the link, without the lead form.
        laptop.goto(url)
        expect(laptop.locator("#chat")).to_be_visible()
        expect(laptop.locator("#lead")).to_be_hidden()
        assert "resume=" not in laptop.url  # used once: not left in the address bar or its history
        expect(laptop.locator('#log .msg[data-role="bot"]')).to_have_count(1)
        # Both devices are live: what one sends, the other shows.
        laptop.get_by_label("Your message").fill(LEAD["name"] + " here, on my laptop")
        laptop.get_by_label("Your message").press("Enter")
        expect(phone.locator('#log .msg[data-role="customer"] .text')).to_have_text("Ann Tan here, on my laptop")
        expect(phone.locator('#log .msg[data-role="bot"]')).to_have_count(2, timeout=30_000)
        expect(laptop.locator('#log .msg[data-role="bot"]')).to_have_count(2, timeout=30_000)

        # The link was used: a third browser is told so and gets the lead form.
        stranger = new_page(browser, errors)
        stranger.goto(url)
        expect(stranger.locator("#lead-error")).to_contain_text("used already")
        expect(stranger.locator("#lead")).to_be_visible()

        for page in (laptop, phone):
            _in_step(api, page, lead["conversation_id"], 2)
            assert serious_accessibility_violations(page) == []
        shots = DOCS_SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
        shots.mkdir(parents=True, exist_ok=True)
        laptop.screenshot(path=str(shots / "chat.png"))
        phone.screenshot(path=str(shots / "chat-360.png"), full_page=True)
        assert all((shots / name).read_bytes().startswith(b"\x89PNG") for name in ("chat.png", "chat-360.png"))
        for page in (laptop, phone, stranger):
            page.context.close()
    assert not errors, errors


def _slow_connection(page: Any) -> None:
    """Chromium's "Slow 3G" preset through the DevTools protocol: 400 ms round trips, about 400 kbit/s each way."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("Network.enable")
    devtools.send("Network.emulateNetworkConditions", {"offline": False, "latency": 400,
                                                       "downloadThroughput": 400 * 1024 / 8,
                                                       "uploadThroughput": 400 * 1024 / 8})
