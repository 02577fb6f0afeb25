"""Headless Chromium for the web UI tests: Debian's browser driven by Playwright (no browser download)."""

from __future__ import annotations

import re
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
