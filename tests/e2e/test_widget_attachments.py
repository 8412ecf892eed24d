"""Attachments: upload, content sniffing, size limit, the transcript, who may fetch them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpdesk.conversations.attachments import Attachment, clean_name, sniff_content_type
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import WidgetClient, rows, serve, wait_idle

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def upload(server: LiveServer, token: str | None, name: str, data: bytes,
           content_type: str = "application/octet-stream") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(server.url + "/widget/attachments", files={"file": (name, data, content_type)},
                      headers=headers, timeout=30)


def fetch(server: LiveServer, attachment_id: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/widget/attachments/{attachment_id}", headers=headers, timeout=30)


@pytest.fixture
def visitor(live_server: LiveServer) -> Any:
    tab = WidgetClient(live_server.url)
    tab.token = tab.connect()["token"]  # type: ignore[attr-defined]
    yield tab
    tab.disconnect()


def test_an_image_is_uploaded_sent_shown_and_fetched_by_its_visitor(live_server: LiveServer,
                                                                    visitor: Any) -> None:
    response = upload(live_server, visitor.token, "../../photo of the tear.PNG", png(), "text/html")
    assert response.status_code == 201
    attachment = response.json()["attachment"]
    assert attachment["content_type"] == "image/png" and attachment["name"] == "photo of the tear.PNG"
    other_tab = WidgetClient(live_server.url)
    other_tab.connect({"token": visitor.token})
    ack = visitor.send("the jacket arrived torn", attachments=[attachment["id"]])
    shown = other_tab.wait_for("message", lambda m: m["role"] == "customer")
    assert shown["attachments"] == [attachment] and shown["text"] == "the jacket arrived torn"
    other_tab.disconnect()
    wait_idle(live_server)
    stored = rows(live_server, Attachment)[0]
    assert (stored.message_id, stored.conversation_id) == (ack["id"], ack["conversation_id"])
    got = fetch(live_server, attachment["id"], visitor.token)
    assert got.status_code == 200 and got.content == png()
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    reloaded = WidgetClient(live_server.url)
    history = reloaded.connect({"token": visitor.token})["messages"]
    assert history[0]["attachments"] == [attachment]
    reloaded.disconnect()


def test_a_pdf_alone_is_a_message_and_downloads_as_a_file(live_server: LiveServer, visitor: Any) -> None:
    attachment = upload(live_server, visitor.token, "invoice", PDF).json()["attachment"]
    assert (attachment["content_type"], attachment["name"], attachment["size"]) == (
        "application/pdf", "invoice.pdf", len(PDF))
    ack = visitor.send(attachments=[attachment["id"]])
    wait_idle(live_server)
    history = WidgetClient(live_server.url)
    message = history.connect({"token": visitor.token})["messages"][0]
    assert (message["seq"], message["text"], message["attachments"]) == (ack["seq"], None, [attachment])
    history.disconnect()
    got = fetch(live_server, attachment["id"], visitor.token)
    assert got.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("evil.png", b"<html><script>alert(1)</script></html>", 415, "unsupported_attachment"),
    ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", 415, "unsupported_attachment"),
    ("empty.png", b"", 400, "empty_attachment"),
])
def test_files_that_are_not_images_or_pdfs_are_refused(live_server: LiveServer, visitor: Any, name: str,
                                                       data: bytes, status: int, code: str) -> None:
    response = upload(live_server, visitor.token, name, data, "image/png")
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert rows(live_server, Attachment) == []


def test_the_size_limit_is_enforced(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, max_attachment_bytes=1000) as live:
        tab = WidgetClient(live.url)
        token = tab.connect()["token"]
        assert upload(live, token, "ok.pdf", PDF + b"x" * (1000 - len(PDF))).status_code == 201
        too_big = upload(live, token, "big.pdf", PDF + b"x" * (1001 - len(PDF)))
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "attachment_too_large"
        huge = upload(live, token, "huge.pdf", PDF + b"x" * 200_000)
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "attachment_too_large"
        assert len(rows(live, Attachment)) == 1
        tab.disconnect()


def test_uploads_need_a_visitor_token(live_server: LiveServer) -> None:
    for token in (None, "forged.token.value"):
        response = upload(live_server, token, "a.png", png())
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
    missing = httpx.post(live_server.url + "/widget/attachments", timeout=10,
                         headers={"Authorization": "Bearer x"})
    assert missing.status_code == 401


def test_only_the_visitor_and_agents_can_fetch_a_file(live_server: LiveServer, visitor: Any) -> None:
    attachment = upload(live_server, visitor.token, "a.png", png()).json()["attachment"]
    visitor.send("photo", attachments=[attachment["id"]])
    other = WidgetClient(live_server.url)
    other_token = other.connect()["token"]
    assert fetch(live_server, attachment["id"], other_token).status_code == 404
    assert fetch(live_server, attachment["id"], None).status_code == 401
    assert fetch(live_server, "does-not-exist", visitor.token).status_code == 404
    ack = other.send("look", attachments=[attachment["id"]])
    assert ack["error"]["code"] == "unknown_attachment", "B cannot send A's file as its own"

    widget = live_server.app.extensions["helpdesk.widget"]
    widget.authorize_agent = lambda request, item: request.headers.get("Authorization") == "Bearer agent-token"
    assert fetch(live_server, attachment["id"], "agent-token").status_code == 200
    assert fetch(live_server, attachment["id"], "not-an-agent").status_code == 404
    other.disconnect()


def test_sniffing_and_names() -> None:
    assert sniff_content_type(png()) == "image/png"
    assert sniff_content_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_content_type(b"GIF89a...") == "image/gif"
    assert sniff_content_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_content_type(PDF) == "application/pdf"
    assert sniff_content_type(b"MZ\x90\x00") is None
    assert clean_name("C:\\Users\\me\\scan.jpeg", "image/jpeg") == "scan.jpeg"
    assert clean_name("report.exe", "application/pdf") == "report.exe.pdf"
    assert clean_name("a\x00b\u202e.png", "image/png") == "ab.png"
    assert clean_name(None, "image/gif") == "file.gif"
