"""Issue 8.8: identities sign name and email; bidirectional controls never reach the inbox."""

from __future__ import annotations

from pathlib import Path

import httpx

from helpdesk.connectors.widget.tokens import identity_hash
from helpdesk.conversations.models import Customer
from helpdesk.conversations.text import BIDI_CONTROLS
from tests.e2e.widget_helpers import WidgetClient, rows, wait_idle
from tests.integration.test_handoff_support import add_agent, login
from tests.security.helpers import rest, running

SITE = "site-secret"


def test_an_identitys_name_and_email_are_covered_by_its_hash(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, widget_site_secret=SITE) as server:
        signed = {"id": "u-1", "name": "Ada", "email": "ada@example.com",
                  "hash": identity_hash(SITE, "u-1", "Ada", "ada@example.com")}
        forged = {**signed, "name": "CEO", "email": "ceo@example.com"}
        id_only = {"id": "u-1", "name": "CEO", "hash": identity_hash(SITE, "u-1")}
        for claim, verified in ((forged, False), (id_only, False), (signed, True)):
            tab = WidgetClient(server.url)
            session = tab.connect({"identity": claim})
            assert (session["visitor_id"] == "user:u-1") is verified, claim
            if verified:
                tab.send("hello")
                wait_idle(server)
            else:
                assert tab.wait_for("error")["code"] == "identity_rejected"
            tab.disconnect()
        customers = [c for c in rows(server, Customer) if c.channel == "widget"]
        assert [(c.name, c.email) for c in customers] == [("Ada", "ada@example.com")]


def test_bidi_controls_are_stripped_from_summaries_and_inbox_rows(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, handoff_assignment="manual") as server:
        add_agent(server.app, "sue@example.com", name="Sue")
        sneaky = "refund \u202eedoc\u202c please \u2066x\u2069"
        rest(server.url, "b", sneaky)
        rest(server.url, "b", "I want to talk to a human " + sneaky)
        headers = login(server.url, "sue@example.com")
        items = httpx.get(f"{server.url}/api/v1/queue", headers=headers, timeout=30).json()["items"]
        assert items and items[0]["summary"] and "edoc" in items[0]["summary"]
        detail = httpx.get(f"{server.url}/api/v1/conversations/{items[0]['conversation_id']}", headers=headers,
                           timeout=30).json()
        for text in (items[0]["summary"], detail["summary"], str(items[0].get("last_message"))):
            assert not set(text) & BIDI_CONTROLS, text
        css = httpx.get(f"{server.url}/agent/static/agent.css", timeout=30)
        assert css.status_code == 200 and "unicode-bidi: isolate" in css.text
