"""`/docs` in real headless Chromium with every request outside the app blocked: Swagger UI loads from the app,
lists the operations, and the Content-Security-Policy (no 'unsafe-inline') reports no violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app import running_api
from tests.support.browser import app_only_page, require_browser

playwright_sync = require_browser()
expect = playwright_sync.expect

pytestmark = pytest.mark.browser


@pytest.fixture
def base_url(make_settings, e2e_db_url: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_api(make_settings(e2e_db_url)) as client:
        yield str(client.base_url).rstrip("/")


def test_docs_work_offline_under_the_csp(base_url: str, tmp_path: Path) -> None:
    console: list[str] = []
    errors: list[str] = []
    with app_only_page(playwright_sync, base_url, tmp_path / "chromium-profile") as (page, outside):
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: errors.append(str(error)))
        response = page.goto(base_url + "/docs")
        assert response is not None and response.status == 200
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        expect(page.locator(".opblock").first).to_be_visible()
        expect(page.locator(".opblock-summary-path", has_text="/api/leads").first).to_be_visible()
        assert page.locator(".opblock").count() >= 13  # every operation of the document
        # Open one operation: its schemas render too (more of Swagger UI's code runs, under the same CSP).
        page.locator(".opblock-summary-path", has_text="/api/leads").first.click()
        expect(page.locator(".opblock-body").first).to_be_visible()
    assert outside == [], f"/docs asked for something outside the app: {outside}"
    assert not errors, errors
    violations = [line for line in console if "Content Security Policy" in line or "CSP violation" in line]
    assert not violations, violations
