"""Helpers for the agent dashboard browser tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.integration.test_handoff_support import PASSWORD

CHROMIUM = "/usr/bin/chromium"
#: mark a module whose tests need the browser
needs_chromium = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="no Chromium at /usr/bin/chromium")


def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    """Open ``/agent`` and sign in through the login form; returns once the inbox shows."""
    from playwright.sync_api import expect

    page.goto(f"{base}/agent")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#me-name")).not_to_be_empty()
