"""Headless Chromium for the web UI tests: Debian's browser driven by Playwright (no browser download)."""

from __future__ import annotations

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
