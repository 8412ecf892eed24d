"""The widget in Debian's headless Chromium, driven by Playwright: a visitor's point of view."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.sites import OtherSite
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import rows, serve

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (make test does)")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)", allow_module_level=True)

TIMEOUT = 20_000


class ShopSite(OtherSite):
    """Another web site that embeds the widget."""

    def __init__(self) -> None:
        self.helpdesk = ""
        super().__init__()

    def page(self, path: str) -> tuple[str, bytes]:
        body = (f'<!doctype html><html><body><h1>Another shop</h1>'
                f'<script src="{self.helpdesk}/widget.js" data-title="Shop help" data-color="rebeccapurple" '
                f'data-position="left" data-greeting="Hello from the shop"></script></body></html>').encode()
        return "text/html; charset=utf-8", body


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def shop() -> Iterator[ShopSite]:
    site = ShopSite()
    yield site
    site.close()


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path, shop: ShopSite) -> Iterator[LiveServer]:
    with serve(sqlite_url, tmp_path, allowed_origins=shop.origin) as live:
        shop.helpdesk = live.url
        yield live


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT)
    tab.dialogs = []
    tab.requests = []
    tab.errors = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("request", lambda request: tab.requests.append(request.url))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()


def bubbles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".hd-log .hd-bubble").all_inner_texts()]


def say(page: Any, text: str) -> None:
    page.fill(".hd-input", text)
    page.press(".hd-input", "Enter")


def test_a_visitor_completes_a_flow_by_typing_and_clicking_and_a_reload_keeps_it(page: Any,
                                                                                 server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.click(".hd-launcher")
    assert page.locator(".hd-greeting .hd-bubble").inner_text().startswith("Hi!")
    say(page, "where is my order")
    page.wait_for_selector(".hd-bot .hd-bubble:has-text('order number')")
    say(page, "A1002")
    page.click(".hd-button:has-text('No, thanks')")
    page.wait_for_selector(".hd-bubble:has-text('How satisfied')")
    assert page.locator(".hd-customer .hd-bubble").last.inner_text() == "No, thanks"
    page.click(".hd-button:has-text('Satisfied')")
    page.wait_for_selector(".hd-bubble:has-text('Thank you for your feedback')")
    page.wait_for_selector(".hd-pending", state="detached")
    history = bubbles(page)

    page.reload()
    page.wait_for_selector(".hd-bubble:has-text('Thank you for your feedback')")
    assert page.locator(".hd-panel").is_visible(), "the window stays open across a reload"
    assert bubbles(page) == history
    assert page.locator(".hd-button").count() == 0, "answered buttons are not offered again"
    assert page.errors == []
    assert all(url.startswith(server.url) for url in page.requests), "nothing is loaded from anywhere else"


def hold_acks_until_the_reply(page: Any) -> list[str]:
    """Deliver the server's frames to the page, but each ack only after the next message event.

    The turn runs while the ack is on its way, so a reply can reach the tab before the ack of
    what it answers; this makes that the rule. Returns the socket.io frames held back.
    """
    held: list[str] = []
    kept: list[str] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(frame: str | bytes) -> None:
            text = frame if isinstance(frame, str) else ""
            if text.startswith("43/widget,"):
                kept.append(text)
                held.append(text)
                return
            ws.send(frame)
            if text.startswith('42/widget,["message"'):
                while kept:
                    ws.send(kept.pop(0))

        server.on_message(from_server)

    page.route_web_socket("**/socket.io/**", route)
    return held


def test_a_reply_that_arrives_before_the_ack_is_shown_after_the_message(page: Any,
                                                                        server: LiveServer) -> None:
    held = hold_acks_until_the_reply(page)
    page.goto(server.url + "/")
    page.click(".hd-launcher")
    say(page, "where is my order")
    page.wait_for_selector(".hd-bot .hd-bubble:has-text('order number')")
    page.wait_for_selector(".hd-pending", state="detached")
    say(page, "A1002")
    page.wait_for_selector(".hd-button:has-text('No, thanks')")
    page.wait_for_selector(".hd-pending", state="detached")
    assert len(held) == 2, "both acks came after the replies"
    live = bubbles(page)
    assert live[1:4] == ["where is my order", live[2], "A1002"]
    assert "order number" in live[2]
    page.reload()
    page.wait_for_selector(".hd-button:has-text('No, thanks')")
    assert bubbles(page) == live
    assert page.errors == []


def test_a_message_typed_before_the_connection_is_up_is_sent_once(page: Any, server: LiveServer) -> None:
    """The socket connects only after the visitor has sent a message: it goes out once, on connect."""
    routes: list[Any] = []
    sent: list[str] = []
    page.route_web_socket("**/socket.io/**", lambda ws: routes.append(ws))  # held: not connected to the server yet
    page.goto(server.url + "/")
    page.click(".hd-launcher")
    say(page, "where is my order")
    page.wait_for_selector(".hd-pending")
    assert len(routes) == 1
    upstream = routes[0].connect_to_server()

    def from_page(frame: str | bytes) -> None:
        if isinstance(frame, str) and frame.startswith('42/widget,') and '"message"' in frame:
            sent.append(frame)
        upstream.send(frame)

    routes[0].on_message(from_page)
    page.wait_for_selector(".hd-bot .hd-bubble:has-text('order number')")
    page.wait_for_selector(".hd-pending", state="detached")
    assert len(sent) == 1, sent
    assert [m.text for m in rows(server) if m.role == "customer"] == ["where is my order"]


def test_a_message_carries_the_page_and_the_browsers_language(browser: Any, server: LiveServer) -> None:
    """For actions that pick the conversation's ``language`` (Rasa's docs read it from metadata)."""
    context = browser.new_context(locale="de-DE")
    try:
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT)
        tab.goto(server.url + "/?page=checkout")
        tab.click(".hd-launcher")
        say(tab, "where is my order")
        tab.wait_for_selector(".hd-pending", state="detached")
    finally:
        context.close()
    customer = [m for m in rows(server) if m.role == "customer"]
    assert [m.payload["metadata"] for m in customer] == [{"page_url": server.url + "/?page=checkout",
                                                          "locale": "de-DE"}]


def test_html_in_a_message_is_shown_as_text(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.click(".hd-launcher")
    attack = "<img src=x onerror=alert(1)>"
    say(page, attack)
    page.wait_for_selector(".hd-bot .hd-bubble:has-text('say it another way')")
    assert page.locator(".hd-customer .hd-bubble").first.inner_text() == attack
    assert page.locator("#helpdesk-widget img").count() == 0
    page.reload()
    page.wait_for_selector(".hd-bot .hd-bubble:has-text('say it another way')")
    assert page.locator(".hd-customer .hd-bubble").first.inner_text() == attack
    assert page.dialogs == [] and page.errors == []


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def test_the_widget_works_on_a_page_of_another_origin(page: Any, server: LiveServer, shop: ShopSite) -> None:
    page.goto(shop.origin + "/")
    launcher = page.locator(".hd-launcher")
    assert launcher.get_attribute("class") == "hd-launcher hd-left"
    launcher.click()
    assert page.locator(".hd-title").inner_text() == "Shop help"
    say(page, "where is my order")
    page.wait_for_selector(".hd-bubble:has-text('order number')")
    page.set_input_files(".hd-composer input[type=file]",
                         files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": png()}])
    image = page.wait_for_selector(".hd-customer img.hd-image")
    page.wait_for_function("img => img.src.startsWith('blob:') && img.complete && img.naturalWidth === 1", arg=image)
    assert page.errors == []


def test_a_page_of_an_origin_not_allowed_cannot_connect(page: Any, server: LiveServer) -> None:
    evil = ShopSite()
    evil.helpdesk = server.url
    page.goto(evil.origin + "/")
    page.click(".hd-launcher")
    page.wait_for_selector(".hd-banner:has-text(\"Can't reach support\")")
    evil.close()


def test_on_a_phone_the_launcher_does_not_cover_send(browser: Any, server: LiveServer) -> None:
    """At 360 px the open panel fills the screen; tapping Send sends (the launcher used to sit on it)."""
    context = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True)
    try:
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT)
        tab.goto(server.url + "/")
        tab.click(".hd-launcher")
        tab.fill(".hd-input", "where is my order")
        tab.tap(".hd-send", timeout=5000)  # Playwright refuses when another element would get the tap
        tab.wait_for_selector(".hd-bot .hd-bubble:has-text('order number')")
        assert tab.locator(".hd-panel").is_visible(), "the chat stayed open"
        tab.click(".hd-close")
        assert tab.locator(".hd-launcher").is_visible(), "closed, the launcher is back"
    finally:
        context.close()
