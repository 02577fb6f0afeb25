"""Headless Chromium for the web UI tests: Debian's browser driven by Playwright (no browser download)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# As the machine's probe starts it: without the background-networking flags Chromium keeps trying hosts this
# closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> ModuleType:
    """`playwright.sync_api`, or skip the calling test module when Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("the browser tests need Debian's Chromium at /usr/bin/chromium (`make browsers` or "
                    "`apt-get install chromium`)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="the browser tests need the `playwright` package")


UI_TIMEOUT_MS = 20_000


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """A headless Chromium for several browser contexts (each its own cookies and storage). Start it after the
    database fixtures and close it before them: the sync Playwright API keeps an event loop running on this thread,
    and those fixtures use `asyncio.run`."""
    playwright_sync = require_browser()
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser: Any, errors: list[str], width: int = 1280, height: int = 800) -> Any:
    """A page in a new context of `browser`; JavaScript errors on it are collected in `errors`."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def fill_lead_form(page: Any, *, name: str, email: str) -> None:
    """The chat page's lead form, filled as a customer would (by the fields' labels)."""
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Phone").fill("+6591234567")
    page.get_by_label("Loan", exact=True).select_option("new_purchase")
    page.get_by_label("Property type").select_option("HDB")
    page.get_by_label("Timeline").select_option("next_3_months")
    page.get_by_label("Monthly income").fill("8000")
    page.get_by_label(re.compile(r"^Age")).fill("32")
    page.get_by_label("I agree").check()


def serious_accessibility_violations(page: Any) -> list[str]:
    """axe-core (bundled by axe-playwright-python, no CDN) on the page as it is: violations of serious or critical
    impact, as "rule: target" lines."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {node['target']}" for v in violations if v.get("impact") in ("serious", "critical")
            for node in v["nodes"]]
@contextmanager
def app_only_page(playwright_sync: ModuleType, base_url: str, profile_dir: Path) -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page that reaches only the app at `base_url` (no internet, no CDN: any other request
    fails and is listed), with CSP violations reported on the console. Yields (page, outside requests)."""
    outside: list[str] = []
    with playwright_sync.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context.set_default_timeout(30_000)

            def only_the_app(route: Any) -> None:
                if route.request.url.startswith(base_url + "/"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort("internetdisconnected")

            context.route("**/*", only_the_app)
            page = context.pages[0] if context.pages else context.new_page()
            page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                                 "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
            yield page, outside
        finally:
            context.close()
