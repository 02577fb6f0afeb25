"""The customer chat page in real headless Chromium, against the real app and a real `aibroker worker` process.

Chromium is Debian's (/usr/bin/chromium, `make browsers` installs it); Playwright only drives it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aibroker.config import Settings
from aibroker.domain.personas import PERSONAS_BY_NAME
from tests.support.app import ADMIN, LEAD, running_api, running_workers
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.support.browser import fill_lead_form as _fill_lead
from tests.support.servers import wait_for

playwright_sync = require_browser()
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
QUESTION = "How does TDSR work for an HDB flat?"
UI_TIMEOUT_MS = 20_000


@pytest.fixture
def page(e2e_db_url: str, tmp_path: Path) -> Iterator[Any]:
    """A page in a fresh headless Chromium (own profile).

    The sync Playwright API keeps an event loop running on this thread while it is open, and the database
    fixtures use `asyncio.run`: so the browser starts after `e2e_db_url` is set up and closes before it is
    torn down (hence the explicit dependency)."""
    errors: list[str] = []
    with playwright_sync.sync_playwright() as playwright:
        # Playwright refuses --user-data-dir in `args`: a persistent context is how a fresh profile is given.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1000, "height": 900})
        try:
            context.set_default_timeout(UI_TIMEOUT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
        finally:
            context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _base_url(api: httpx.Client) -> str:
    return str(api.base_url).rstrip("/")


def _server_messages(api: httpx.Client, conversation_id: int) -> list[dict[str, str]]:
    response = api.get(f"/api/conversations/{conversation_id}/messages", headers=ADMIN)  # as the operator
    response.raise_for_status()
    messages: list[dict[str, str]] = response.json()["messages"]
    return messages


def _queue_idle(api: httpx.Client) -> bool:
    counts = api.get("/api/health", headers=ADMIN).json()["parts"]["queue"]["counts"]
    return all(counts.get(state, 0) == 0 for state in ("waiting", "active", "delayed", "prioritized"))


def _bubbles(page: Any) -> list[dict[str, str]]:
    """The chat bubbles in the page, in display order (system notes are not bubbles)."""
    result: list[dict[str, str]] = page.locator("#log .msg").evaluate_all(
        "els => els.map(e => ({role: e.dataset.role, id: e.dataset.id || '', "
        "text: e.querySelector('.text').textContent, pending: e.classList.contains('pending')}))")
    return result


def test_lead_form_greeting_and_exactly_one_reply_per_question(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path, page: Any) -> None:
    # Pacing on (as in production), so the typing indicator has something to show.
    settings: Settings = make_settings(e2e_db_url, PACING_ENABLED=True)
    with running_api(settings) as api, running_workers(settings, tmp_path) as workers:
        page.goto(_base_url(api) + "/")
        _fill_lead(page, name="Ann Tan", email="ann.tan@example.com")
        with page.expect_response(lambda r: r.url.endswith("/api/leads")) as lead_response:
            page.get_by_role("button", name="Start chat").click()
        lead = lead_response.value.json()
        conversation_id, broker = lead["conversation_id"], lead["broker"]
        assert broker["name"] in PERSONAS_BY_NAME
        assert lead_response.value.request.post_data_json["consent"] is True

        # The header names the broker; the greeting arrives as a bot bubble using the customer's first name.
        expect(page.locator("#lead")).to_be_hidden()
        expect(page.get_by_role("heading", name=broker["name"])).to_be_visible()
        expect(page.locator("#broker-title")).to_have_text(broker["title"])
        greeting = page.locator('#log .msg[data-role="bot"]')
        expect(greeting).to_have_count(1, timeout=30_000)
        expect(greeting).to_contain_text("Ann")
        # "X joined the conversation" is a small centred note, not a bubble.
        expect(page.locator('#log .note[data-role="system"]')).to_contain_text(broker["name"])

        # The first send attempt gets a 503 (queue down); the retry, with the same idempotency key, is held
        # back until the page has been looked at, then let through to the real server.
        posts: list[dict[str, Any]] = []
        held: list[Any] = []

        def flaky_queue(route: Any) -> None:
            if route.request.method != "POST":
                route.continue_()
                return
            posts.append(json.loads(route.request.post_data or "{}"))
            if len(posts) == 1:
                route.fulfill(status=503, content_type="application/json", headers={"Retry-After": "1"},
                              body=json.dumps({"error": "queue unavailable", "part": "redis", "retry": True}))
            elif len(posts) == 2:
                held.append(route)
            else:
                route.continue_()

        page.route(f"**/api/conversations/{conversation_id}/messages", flaky_queue)
        page.get_by_label("Your message").fill(QUESTION)
        page.get_by_label("Your message").press("Enter")

        # Optimistic: the customer's bubble is there while the server does not have the message yet.
        expect(page.locator("#send-status")).to_have_text("Connection hiccup, retrying…")
        deadline = time.monotonic() + 15
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # lets Playwright dispatch the held request to `flaky_queue`
        assert held, "the page did not retry the message after the 503"
        mine = page.locator('#log .msg[data-role="customer"]')
        expect(mine).to_have_count(1)
        expect(mine).to_have_class(re.compile(r"\bpending\b"))
        expect(mine.locator(".text")).to_have_text(QUESTION)
        assert [m for m in _server_messages(api, conversation_id) if m["role"] == "customer"] == []
        held[0].continue_()
        expect(page.locator("#send-status")).to_have_text("", timeout=10_000)
        expect(mine).not_to_have_class(re.compile(r"\bpending\b"))

        # The broker is typing while it paces its reply, then exactly one reply bubble follows.
        expect(page.locator("#typing")).to_contain_text(f"{broker['name']} is typing", timeout=10_000)
        expect(page.locator('#log .msg[data-role="bot"]')).to_have_count(2, timeout=30_000)
        expect(page.locator("#typing")).to_have_text("", timeout=10_000)

        wait_for(lambda: _queue_idle(api), what="worker idle", timeout_s=20)
        server = [m for m in _server_messages(api, conversation_id) if m["role"] != "system"]
        wait_for(lambda: [b["id"] for b in _bubbles(page)] == [m["id"] for m in server],
                 what="page in step with the server", timeout_s=10)
        time.sleep(1.5)  # one more poll: a duplicate would show up now
        bubbles = _bubbles(page)
        assert [b["role"] for b in bubbles] == ["bot", "customer", "bot"], bubbles
        assert [b["id"] for b in bubbles] == [m["id"] for m in server]  # each server message shown once
        assert bubbles[1]["text"] == QUESTION and not bubbles[1]["pending"]
        assert [m["content"] for m in server if m["role"] == "customer"] == [QUESTION]

        assert len(posts) == 2, posts
        assert posts[0] == posts[1] and posts[0]["content"] == QUESTION
        assert CLIENT_MESSAGE_ID.match(posts[0]["client_message_id"])

        # A human takes over: the page says so.
        assert api.post(f"/api/conversations/{conversation_id}/handoff", headers=ADMIN).status_code == 200
        expect(page.locator("#handoff")).to_be_visible(timeout=10_000)
        expect(page.locator("#handoff")).to_have_text("A specialist will take over shortly.")

        screenshot = tmp_path / "chat.png"
        page.screenshot(path=str(screenshot), full_page=True)
        data = screenshot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
        assert workers[0].process is not None and workers[0].process.poll() is None, workers[0].log()[-2000:]


def test_invalid_email_is_shown_next_to_the_field_and_no_chat_starts(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path, page: Any) -> None:
    page.set_viewport_size({"width": 375, "height": 740})  # a phone
    with running_api(make_settings(e2e_db_url)) as api:
        page.goto(_base_url(api) + "/")
        _fill_lead(page, name="Ann Tan", email="not-an-email")
        # Consent first: without the box ticked the page says so next to it and starts nothing.
        page.get_by_label("I agree").uncheck()
        page.get_by_role("button", name="Start chat").click()
        expect(page.locator("#f-consent-error")).to_contain_text("tick the box")
        expect(page.get_by_label("I agree")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#privacy-link")).to_have_attribute("href", "/privacy")
        page.get_by_label("I agree").check()
        with page.expect_response(lambda r: r.url.endswith("/api/leads")) as lead_response:
            page.get_by_role("button", name="Start chat").click()
        assert lead_response.value.status == 422

        email = page.get_by_label("Email")
        expect(page.locator("#f-email-error")).to_contain_text("email")
        expect(email).to_have_attribute("aria-invalid", "true")
        expect(email).to_be_focused()
        expect(page.locator("#f-name-error")).to_have_text("")
        expect(page.locator("#chat")).to_be_hidden()
        expect(page.locator("#lead")).to_be_visible()
        # Mobile: the form fits the screen (no sideways scrolling).
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(tmp_path / "form-errors-mobile.png"), full_page=True)

        # Corrected, the same form starts the chat and the error goes away.
        email.fill("ann.tan@example.com")
        page.get_by_role("button", name="Start chat").click()
        expect(page.locator("#chat")).to_be_visible()
        expect(page.locator("#f-email-error")).to_have_text("")
        expect(email).not_to_have_attribute("aria-invalid", "true")


def _stored(page: Any) -> Any:
    return page.evaluate("JSON.parse(localStorage.getItem('aibroker.conversation') || 'null')")


def _settled(page: Any) -> None:
    """The page has decided what to show after a load (it is busy while it asks about a stored conversation)."""
    expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")


def _shows_only_the_form(page: Any) -> None:
    _settled(page)
    expect(page.locator("#lead")).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()
    assert page.locator("#log > *").count() == 0 and page.locator("#broker-name").text_content() == ""
    assert _stored(page) is None  # a token that opens nothing is forgotten


def test_a_reload_resumes_the_conversation_and_a_foreign_token_shows_nothing(  # type: ignore[no-untyped-def]
        make_settings, e2e_db_url: str, tmp_path: Path, page: Any) -> None:
    settings: Settings = make_settings(e2e_db_url)
    with running_api(settings) as api, running_workers(settings, tmp_path):
        page.goto(_base_url(api) + "/")
        _fill_lead(page, name="Ann Tan", email="ann.tan@example.com")
        with page.expect_response(lambda r: r.url.endswith("/api/leads")) as lead_response:
            page.get_by_role("button", name="Start chat").click()
        lead = lead_response.value.json()
        conversation_id = lead["conversation_id"]
        assert _stored(page) == {"id": conversation_id, "token": lead["conversation_token"]}
        page.get_by_label("Your message").fill(QUESTION)
        page.get_by_label("Your message").press("Enter")
        expect(page.locator('#log .msg[data-role="bot"]')).to_have_count(2, timeout=30_000)
        wait_for(lambda: _queue_idle(api), what="worker idle", timeout_s=20)
        history = [m["id"] for m in _server_messages(api, conversation_id) if m["role"] != "system"]
        assert len(history) == 3

        def in_step() -> bool:
            return [b["id"] for b in _bubbles(page)] == history

        # A reload: the same conversation, its whole history, no form.
        page.reload()
        expect(page.locator("#chat")).to_be_visible()
        expect(page.locator("#lead")).to_be_hidden()
        expect(page.get_by_role("heading", name=lead["broker"]["name"])).to_be_visible()
        wait_for(in_step, what="history shown after the reload", timeout_s=10)

        # The server cannot be reached on the reload: the form shows, the token is kept, and submitting the
        # form again sends it, so the same conversation continues (not a second one).
        aborted: list[str] = []

        def unreachable_once(route: Any) -> None:
            if not aborted:
                aborted.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        # (A fresh load rather than a reload: the old page, still following its event stream, may itself ask for
        # the conversation just then, and its request would take the one abort meant for the new page's.)
        page.goto("about:blank")
        page.route(f"**/api/conversations/{conversation_id}", unreachable_once)
        page.goto(_base_url(api) + "/")
        _settled(page)
        expect(page.locator("#lead")).to_be_visible()
        assert aborted and _stored(page)["token"] == lead["conversation_token"]
        _fill_lead(page, name="Ann Tan", email="Ann.Tan@example.com")
        with page.expect_response(lambda r: r.url.endswith("/api/leads")) as again_response:
            page.get_by_role("button", name="Start chat").click()
        assert again_response.value.request.headers["x-conversation-token"] == lead["conversation_token"]
        again = again_response.value.json()
        assert again["reused"] is True and again["conversation_id"] == conversation_id
        expect(page.locator("#chat")).to_be_visible()
        wait_for(in_step, what="history shown after the repeated form", timeout_s=10)
        page.unroute(f"**/api/conversations/{conversation_id}")

        # A stored token that is not this conversation's (another lead's, or garbage): nothing of it is shown.
        other = api.post("/api/leads", json={**LEAD, "email": "someone.else@example.com"}).json()
        for stored in ({"id": conversation_id, "token": other["conversation_token"]},
                       {"id": other["conversation_id"], "token": lead["conversation_token"]},
                       {"id": conversation_id, "token": "garbage"}, "not json at all"):
            value = stored if isinstance(stored, str) else json.dumps(stored)
            page.evaluate("v => localStorage.setItem('aibroker.conversation', v)", value)
            page.reload()
            _shows_only_the_form(page)
