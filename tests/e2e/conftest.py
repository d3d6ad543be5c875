"""The browser of the e2e tests: headless Debian Chromium, driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.hosts import front, hosts  # noqa: F401  (fixtures of the many-hosts tests)

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright's own downloads are never used
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def page() -> Iterator[Page]:
    """A page of headless Debian Chromium, driven by Playwright, large enough for the dashboard.

    Per test, not per module: between its calls Playwright's sync API marks its own event loop
    as the running one, and pytest-jupyter's autouse loop fixture would take it and close it.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1100})
        finally:
            browser.close()
