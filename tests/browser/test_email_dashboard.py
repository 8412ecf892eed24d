"""An email conversation in the agent dashboard (headless Chromium): the subject as title, the sender,
the quoted history collapsed, attachments, and "View original" showing the raw message as text."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.browser.dashboard_helpers import needs_chromium, sign_in
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import serve
from tests.integration.email_app import SUPPORT, TOKEN, post_mail, settle
from tests.integration.test_handoff_support import add_agent
from tests.mailservers import SmtpServer, smtp_server  # noqa: F401 - fixture

pytestmark = needs_chromium
HOSTILE = '<p>I want to talk to a human</p><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path, smtp_server: SmtpServer) -> Iterator[LiveServer]:  # noqa: F811
    with serve(sqlite_url, tmp_path, timers_in_web=False, email_address=SUPPORT, smtp_url=smtp_server.url,
               email_inbound_token=TOKEN, outbox_interval=0.2) as live:
        add_agent(live.app, "ada@example.com", name="Ada", role="admin", presence="away")
        yield live


def customer_mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jon Smith <jon@example.org>"
    msg["To"] = SUPPORT
    msg["Subject"] = "Refund for order A1002"
    msg["Message-ID"] = "<refund-1@example.org>"
    msg.set_content("I want to talk to a human\n\nOn Monday Northwind wrote:\n> Your refund is on its way.\n")
    msg.add_alternative(HOSTILE, subtype="html")
    msg.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg.as_bytes()


def test_an_email_conversation_in_the_dashboard(server: LiveServer, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    stored = post_mail(server.app.test_client(), customer_mail())
    settle(server.app)
    sign_in(page, server.url, "ada@example.com")
    page.locator(f'[data-cid="{stored["conversation_id"]}"]').click()
    expect(page.locator("#conv-title")).to_have_text("Refund for order A1002")
    expect(page.locator("#customer")).to_contain_text("jon@example.org")
    message = page.locator(".msg.customer").first
    expect(message.locator(".body")).to_have_text("I want to talk to a human")
    expect(message.locator(".email .who").first).to_have_text("Jon Smith <jon@example.org>")
    quoted = message.locator("details pre.quoted")
    expect(quoted).to_be_hidden()  # collapsed until asked for
    message.locator("details summary").click()
    expect(quoted).to_contain_text("> Your refund is on its way.")
    expect(message.get_by_text("📎 invoice.pdf")).to_be_visible()
    with page.expect_popup() as opened:
        message.locator(".view-original").click()
    original = opened.value
    original.wait_for_load_state()
    body = original.locator("body")
    expect(body).to_contain_text("Message-ID: <refund-1@example.org>")
    expect(body).to_contain_text("window.__pwned")  # the HTML part, as text
    assert original.evaluate("window.__pwned") is None and page.evaluate("window.__pwned") is None
