"""A real Rasa chat front-end, unchanged, against our Rasa socket.io channel: rasa-webchat 1.0.1
(Botfront's, socket.io-client 3; ``make rasa-webchat`` unpacks its npm tarball into .cache/node) on a
shop's page of another origin, in Debian's headless Chromium driven by Playwright.

What rasa-webchat does that these tests rely on: it connects on mount (long-polling, then the upgrade
to a WebSocket), sends ``session_request {session_id}`` with the id it keeps in localStorage
(``chat_session``) and waits for ``session_confirm``; every ``user_uttered`` carries ``message``,
``session_id`` and its ``customData`` prop; a ``bot_uttered`` of exactly ``{text, quick_replies}`` shows
buttons, whose click sends the payload and shows the title. It keeps the conversation in localStorage
and redraws it after a reload (the server sends no history). Visitors' messages are shown as text;
bot messages go through react-markdown with its default ``escapeHtml``: markdown is rendered, HTML is
shown as text. Its stylesheet imports a Google font, which these tests block (no internet here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpdesk.conversations.models import Conversation, Message
from tests.browser.dashboard_helpers import needs_chromium
from tests.browser.sites import OtherSite
from tests.e2e.conftest import REPO, LiveServer
from tests.e2e.widget_helpers import agent_says, rows, serve, wait_idle

WEBCHAT = REPO / ".cache" / "node" / "rasa-webchat-1.0.1"
BUNDLE = WEBCHAT / "lib" / "index.js"
CUSTOM_DATA = {"language": "en", "shop": "northwind"}
ATTACK = "<img src=x onerror=alert(1)>"

pytestmark = [
    needs_chromium,
    pytest.mark.skipif(not BUNDLE.is_file(), reason=f"rasa-webchat 1.0.1 is not in {WEBCHAT.relative_to(REPO)}: "
                       "run `make rasa-webchat` (make test does; it needs npm and the npm registry)"),
]


class WebchatSite(OtherSite):
    """A shop's page that loads rasa-webchat's UMD bundle and mounts it as its README says for 1.0.x:
    ``WebChat.default(props, null)`` (``selfMount``: a ``#rasaWebchatPro`` div on the body)."""

    def __init__(self) -> None:
        self.helpdesk = ""
        super().__init__()

    def page(self, path: str) -> tuple[str, bytes] | None:
        if path == "/rasa-webchat/lib/index.js":
            return "application/javascript; charset=utf-8", BUNDLE.read_bytes()
        if path != "/":
            return None
        props = {"socketUrl": self.helpdesk, "socketPath": "/socket.io/", "customData": CUSTOM_DATA,
                 "title": "Northwind help", "inputTextFieldHint": "Ask us anything"}
        body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Northwind shop</title></head>
<body><h1>Northwind shop</h1>
<script src="/rasa-webchat/lib/index.js"></script>
<script>
  var props = {json.dumps(props)};
  props.customMessageDelay = function () {{ return 50; }};  // the default waits 0.8-3 s per bot message
  WebChat.default(props, null);
</script></body></html>"""
        return "text/html; charset=utf-8", body.encode()


@pytest.fixture
def site() -> Iterator[WebchatSite]:
    shop = WebchatSite()
    yield shop
    shop.close()


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path, site: WebchatSite) -> Iterator[LiveServer]:
    """The helpdesk, allowing only the shop's origin (``page`` of conftest.py uses this one)."""
    with serve(sqlite_url, tmp_path, allowed_origins=site.origin) as live:
        site.helpdesk = live.url
        yield live


def open_chat(page: Any, site: WebchatSite) -> None:
    """Open the shop's page and the chat window; returns once rasa-webchat has a confirmed session."""
    page.set_default_timeout(20_000)
    page.dialogs = []
    page.sockets = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("websocket", lambda ws: page.sockets.append(ws.url))
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    page.goto(site.origin + "/")
    page.click(".rw-launcher")  # shown once connected (hideWhenNotConnected)
    page.wait_for_selector(".rw-new-message")
    page.wait_for_function("() => (JSON.parse(localStorage.getItem('chat_session')) || {}).session_id")


def session_id(page: Any) -> str:
    return str(page.evaluate("() => JSON.parse(localStorage.getItem('chat_session')).session_id"))


def say(page: Any, text: str) -> None:
    page.fill(".rw-new-message", text)
    page.click(".rw-send")


def bot_says(page: Any, text: str) -> None:
    page.wait_for_selector(f".rw-response:has-text({json.dumps(text)})")


def client_texts(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".rw-client .rw-message-text").all_inner_texts()]


def test_rasa_webchat_completes_a_flow_and_a_reload_continues_the_same_session(page: Any, server: LiveServer,
                                                                             site: WebchatSite) -> None:
    from playwright.sync_api import expect

    open_chat(page, site)
    say(page, "where is my order")
    bot_says(page, "order number")
    say(page, "A1002")
    bot_says(page, "Order A1002")
    bot_says(page, "was delivered")
    page.click(".rw-reply:has-text('No, thanks')")  # quick_replies of "anything else?"
    bot_says(page, "Have a great day")
    page.wait_for_selector(".rw-reply:has-text('Unsatisfied')")
    assert client_texts(page) == ["where is my order", "A1002", "No, thanks"], "a button shows its title"
    assert any(url.startswith(server.url.replace("http", "ws") + "/socket.io/") for url in page.sockets), \
        "long-polling was upgraded to a WebSocket"

    first = session_id(page)
    wait_idle(server)
    [conversation] = rows(server, Conversation)
    assert (conversation.channel, conversation.thread_key) == ("socketio", first)
    customer = [m for m in rows(server) if m.role == "customer"]
    assert [m.text for m in customer] == ["where is my order", "A1002", "/SetSlots(continue_conversation=false)"]
    assert all(m.payload == {"metadata": CUSTOM_DATA} for m in customer), "customData is the metadata"
    before = len(rows(server))

    page.reload()
    bot_says(page, "Have a great day")  # redrawn from localStorage
    page.click(".rw-reply:text-is('Satisfied')")  # the buttons offered before the reload
    bot_says(page, "Thank you for your feedback")
    say(page, "where is my order")
    expect(page.locator(".rw-response", has_text="order number")).to_have_count(2)
    assert session_id(page) == first

    wait_idle(server)
    assert [(c.id, c.channel, c.thread_key) for c in rows(server, Conversation)] == \
        [(conversation.id, "socketio", first)], "one conversation: the session went on after the reload"
    after: list[Message] = rows(server)[before:]
    assert [m.text for m in after if m.role == "customer"] == ["/SetSlots(csat_score=satisfied)", "where is my order"]
    assert {m.conversation_id for m in after} == {conversation.id}
    assert page.dialogs == []


def test_html_from_the_visitor_or_an_agent_is_shown_as_text_and_markdown_is_rendered(
        page: Any, server: LiveServer, site: WebchatSite) -> None:
    open_chat(page, site)
    say(page, ATTACK)
    bot_says(page, "say it another way")
    assert client_texts(page) == [ATTACK], "the visitor's message is shown as typed"
    wait_idle(server)
    [conversation] = rows(server, Conversation)
    assert [m.text for m in rows(server) if m.role == "customer"] == [ATTACK]

    agent_says(server, conversation.id, f"**Alex** here. You wrote {ATTACK}")
    bot_says(page, "Alex here. You wrote")
    agent = page.locator(".rw-response .rw-markdown", has_text="Alex here")
    assert agent.locator("strong").inner_text() == "Alex", "markdown from the server is rendered"
    assert agent.inner_text().strip() == f"Alex here. You wrote {ATTACK}", "HTML is escaped, not parsed"

    page.reload()
    bot_says(page, "Alex here. You wrote")
    assert client_texts(page) == [ATTACK]
    assert page.locator("#rasaWebchatPro img[src='x']").count() == 0
    assert page.dialogs == []
