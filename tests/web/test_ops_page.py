"""`/console/ops` in real headless Chromium, offline and under the CSP: sign in with the admin token, the figures
load, both charts render (uPlot, served by the app), and the queue's pause button pauses the queue; then an admin
agent signed in at /console uses the page without the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agents import PASSWORD, add_agent
from tests.support.app import ADMIN, LEAD, running_api
from tests.support.browser import app_only_page, require_browser

playwright_sync = require_browser()
expect = playwright_sync.expect

pytestmark = pytest.mark.browser


def test_ops_page_shows_figures_and_charts_and_pauses_the_queue(make_settings, e2e_db_url: str,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    problems: list[str] = []
    settings = make_settings(e2e_db_url)
    add_agent(settings, "boss@example.com", "Bea Boss", admin=True)
    with running_api(settings) as api:
        base_url = str(api.base_url).rstrip("/")
        assert api.post("/api/leads", json=LEAD).status_code < 300  # one conversation to show
        with app_only_page(playwright_sync, base_url, tmp_path / "chromium-profile") as (page, outside):
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda m: m.type == "error" and "CSP" in m.text and problems.append(m.text))
            page.goto(base_url + "/console/ops")

            page.fill("#token", "not-the-token")
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#sign-in-error")).to_contain_text("admin token")

            page.fill("#token", ADMIN["Authorization"].removeprefix("Bearer "))
            page.click("#sign-in button[type=submit]")
            expect(page.locator("body[data-loaded=true]")).to_have_count(1)
            started = page.locator(".tile", has_text="Conversations started")
            expect(started.locator(".value")).to_have_text("1")
            expect(page.locator("#chart-latency .uplot canvas")).to_have_count(1)
            expect(page.locator("#chart-volume .uplot canvas")).to_have_count(1)
            expect(page.locator("#brokers tr")).to_have_count(5)
            expect(page.locator("#per-persona tr")).to_have_count(1)

            page.click("#queue-pause")
            expect(page.locator("#paused-badge")).to_be_visible()
            assert api.get("/api/health").json()["paused"] is True

            # Without the token: an admin agent signed in at /console gets the page on its session (and CSRF).
            page.click("#sign-out")
            expect(page.locator("#sign-in")).to_be_visible()
            page.goto(base_url + "/console")
            page.get_by_label("E-mail").fill("boss@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.goto(base_url + "/console/ops")
            expect(page.locator("body[data-loaded=true]")).to_have_count(1)
            expect(page.locator("#sign-in")).to_be_hidden()
            page.click("#queue-resume")
            expect(page.locator("#paused-badge")).to_be_hidden()
            assert api.get("/api/health").json()["paused"] is False
        assert outside == [] and problems == []
