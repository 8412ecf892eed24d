"""``GET /widget.js`` and the demo page ``GET /``."""

from __future__ import annotations

import re

import httpx

from tests.e2e.conftest import LiveServer


def test_widget_js_is_one_self_contained_script(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/widget.js", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(("application/javascript", "text/javascript"))
    body = response.text
    assert "Socket.IO v4" in body and "window.HelpdeskWidget" in body
    widget = body.split("var io = module.exports;", 1)[1]
    assert not re.search(r"createElement\(\s*[\"']script|importScripts|cdn", widget, re.IGNORECASE), \
        "no other script is loaded at run time (the browser test checks every request)"
    assert "innerHTML" not in widget and "insertAdjacentHTML" not in widget, "the widget never sets HTML"
    again = httpx.get(live_server.url + "/widget.js", headers={"If-None-Match": response.headers["ETag"]},
                      timeout=10)
    assert again.status_code == 304


def test_the_demo_page_embeds_the_widget(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert re.search(r'<script src="/widget.js"\s+data-title="Northwind Outfitters"', response.text)
    assert "data-greeting=" in response.text
