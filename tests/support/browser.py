"""Headless Chromium for the web UI tests: Debian's browser driven by Playwright (no browser download)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

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
