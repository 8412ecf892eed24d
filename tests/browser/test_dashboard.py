"""The agent dashboard in headless Chromium: login, the live inbox, a conversation whose customer
message contains HTML (shown as text, never run), claim, reply, note and release."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.browser.dashboard_helpers import needs_chromium, sign_in
from tests.e2e.conftest import LiveServer
from tests.integration.test_handoff_support import ask_for_human, conversation_id, login

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold?</b>'

pytestmark = needs_chromium


def test_dashboard_end_to_end(server: LiveServer, page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base = server.url
    ask_for_human(base, "visitor-1")
    httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": "visitor-1", "message": HOSTILE}, timeout=30)
    cid = conversation_id(server.app, "visitor-1")

    sign_in(page, base, "ada@example.com")
    expect(page.locator("#me-name")).to_have_text("Ada (admin)")
    expect(page.locator("#presence")).to_have_value("away")  # away: nothing is assigned automatically
    row = page.locator(f'[data-cid="{cid}"]')
    expect(row).to_be_visible()
    expect(row.locator(".wait")).to_have_text(re.compile(r"^\d+s$|^\d+m \d+s$"))
    expect(page.locator("#count-queued")).to_have_text("1")

    ask_for_human(base, "visitor-2")  # arrives while the page is open: no reload
    expect(page.locator(f'[data-cid="{conversation_id(server.app, "visitor-2")}"]')).to_be_visible()
    expect(page.locator("#count-queued")).to_have_text("2")

    row.click()
    expect(page.locator("#summary-text")).to_contain_text("Reason: the customer asked for a person")
    hostile = page.locator(".msg.customer .body").last
    expect(hostile).to_have_text(HOSTILE)
    assert page.locator(".messages img, .messages script, .messages b").count() == 0
    assert page.evaluate("window.__pwned") is None

    page.click("#act-claim")
    expect(page.locator("#conv-status")).to_have_text("assigned")
    page.fill("#text", "Hello, I'm Ada. <i>not html</i>")
    page.click("#send")
    expect(page.locator(".msg.agent .body").last).to_have_text("Hello, I'm Ada. <i>not html</i>")
    page.check('input[name="mode"][value="note"]')
    page.fill("#text", "internal: check order")
    page.click("#send")
    expect(page.locator("#notes li").last).to_contain_text("internal: check order")

    httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": "visitor-1", "message": "thanks Ada"}, timeout=30)
    expect(page.locator(".msg.customer .body").last).to_have_text("thanks Ada")

    page.click("#act-release")
    expect(page.locator("#conv-status")).to_have_text("bot")
    expect(page.locator(".msg.bot .body").last).to_contain_text("How satisfied")
    headers = login(base, "ada@example.com")
    detail = httpx.get(f"{base}/api/v1/conversations/{cid}", headers=headers, timeout=30).json()
    assert [m["text"] for m in detail["messages"] if m["role"] == "agent"] == ["Hello, I'm Ada. <i>not html</i>"]
    page.screenshot(path=str(tmp_path / "dashboard.png"))  # kept with the test run, to look at


def test_messages_that_cross_on_the_way_are_shown_in_conversation_order(server: LiveServer, page: object) -> None:
    """Events of different turns can reach the dashboard out of order: it shows them by seq."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base = server.url
    ask_for_human(base, "visitor-3")
    cid = conversation_id(server.app, "visitor-3")
    held: list[str] = []
    delayed: list[str] = []

    def route(ws: Any) -> None:
        upstream = ws.connect_to_server()

        def from_server(frame: str | bytes) -> None:
            text = frame if isinstance(frame, str) else ""
            if text.startswith('42/agent,["message"') and '"first"' in text:
                held.append(text)  # delivered after the next message
                delayed.append(text)
                return
            ws.send(frame)
            if text.startswith('42/agent,["message"') and held:
                ws.send(held.pop())

        upstream.on_message(from_server)

    page.route_web_socket("**/socket.io/**", route)
    sign_in(page, base, "ada@example.com")
    page.locator(f'[data-cid="{cid}"]').click()
    page.click("#act-claim")
    expect(page.locator("#conv-status")).to_have_text("assigned")
    for text in ("first", "second"):
        httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": "visitor-3", "message": text}, timeout=30)
    expect(page.locator(".msg.customer .body", has_text="first")).to_be_visible()
    assert len(delayed) == 1 and held == [], "the first message reached the page after the second"
    assert page.locator(".msg.customer .body").all_inner_texts()[-2:] == ["first", "second"]


def test_inbox_rows_name_visitors_mark_urgency_and_the_summary_shows_once(server: LiveServer, page: object) -> None:
    from playwright.sync_api import Page, expect
    from sqlalchemy import update

    from helpdesk.handoff.models import Handoff

    assert isinstance(page, Page)
    base = server.url
    ask_for_human(base, "a1b2c3d4" * 4)
    ask_for_human(base, "calm")
    urgent, calm = conversation_id(server.app, "a1b2c3d4" * 4), conversation_id(server.app, "calm")
    with server.app.extensions["helpdesk"].db.session() as session, session.begin():
        session.execute(update(Handoff).where(Handoff.conversation_id == urgent).values(priority=3))
    sign_in(page, base, "ada@example.com")
    row = page.locator(f'[data-cid="{urgent}"]')
    expect(row.locator(".name")).to_have_text(re.compile(r"^\S+ Visitor \d{1,4}$"))  # not "rest · a1b2…"
    expect(row).to_have_class(re.compile(r"\bpriority-urgent\b"))
    expect(page.locator(f'[data-cid="{calm}"]')).not_to_have_class(re.compile(r"priority-urgent"))
    assert page.locator(f'[data-cid="{urgent}"] .preview').evaluate(
        "el => getComputedStyle(el).textOverflow") == "ellipsis"
    row.click()
    expect(page.locator("#summary-text")).to_contain_text("Reason: the customer asked for a person")
    expect(page.locator("#notes li", has_text="Reason:")).to_have_count(0)  # once, in the banner
    page.click("#act-claim")
    expect(page.locator("#conv-status")).to_have_text("assigned")
    expect(page.locator("#act-claim")).to_be_hidden()
