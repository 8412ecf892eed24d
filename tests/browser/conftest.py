"""Fixtures of the agent dashboard browser tests: a live server with an admin, Ada, and a headless
Chromium page that fails the test on any script error. ``test_widget_browser`` has its own;
``test_rasa_webchat`` overrides ``server``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.dashboard_helpers import CHROMIUM
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import serve
from tests.integration.test_handoff_support import add_agent


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    with serve(sqlite_url, tmp_path, timers_in_web=False) as live:
        add_agent(live.app, "ada@example.com", name="Ada", role="admin", presence="away")
        yield live


@pytest.fixture
def page(server: LiveServer) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            tab = browser.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            yield tab
            assert errors == [], "no script errors on the page"
        finally:
            browser.close()
