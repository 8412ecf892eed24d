"""The helpdesk itself on a free loopback port (a real threaded werkzeug server), for tests that
talk to it over HTTP like a customer's client would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from flask import Flask

from helpdesk.app import create_app
from helpdesk.settings import Settings
from tests.e2e.conftest import serve_app

WEBHOOK = "/webhooks/rest/webhook"


@dataclass
class RunningHelpdesk:
    url: str
    app: Flask

    def post(self, sender: str, message: str) -> list[dict[str, Any]]:
        """Send a message through the Rasa REST channel; the replies."""
        response = httpx.post(self.url + WEBHOOK, json={"sender": sender, "message": message}, timeout=60)
        assert response.status_code == 200, response.text
        return list(response.json())


@contextmanager
def running_helpdesk(settings: Settings) -> Iterator[RunningHelpdesk]:
    app = create_app(settings)
    try:
        with serve_app(app) as server:
            yield RunningHelpdesk(server.url, app)
    finally:
        app.extensions["helpdesk"].close()
