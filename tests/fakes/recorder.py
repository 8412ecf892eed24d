"""A tiny store-and-forward connector for tests, and the README's "Writing a channel" example.

It is everything a connector needs, in one module:

* inbound: ``POST /recorder/messages {thread, id, text}`` → ``ctx.inbox.receive`` → ``202 {conversation_id,
  seq, duplicate}`` once the message is committed (a repeated ``id`` is stored once);
* outbound: :class:`RecorderChannel` is its outbox channel; each delivery appends one JSON line to the
  file named by ``RECORDER_FILE`` (after ``RECORDER_DELAY`` seconds, so a test can kill the worker
  mid-way), like a mail server receiving a message it dedupes by ``Message-ID``.

Enable it with ``HELPDESK_EXTRA_CONNECTORS=tests.fakes.recorder:RecorderConnector``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from helpdesk.connectors.base import BaseConnector, ConnectorContext
from helpdesk.connectors.errors import BadRequest
from helpdesk.conversations.outbound import OutboundMessage
from helpdesk.conversations.types import Channel, Inbound

CHANNEL = "recorder"


class RecorderChannel:
    """Appends every delivered message to a JSON-lines file (one ``write`` per line, so a killed
    process leaves whole lines)."""

    name = CHANNEL

    def __init__(self, path: Path, delay: float = 0.0) -> None:
        self.path = path
        self.delay = delay

    def deliver(self, message: OutboundMessage) -> None:
        time.sleep(self.delay)
        line = json.dumps({**message.to_json(), "pid": os.getpid()}) + "\n"
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)


class RecorderConnector(BaseConnector):
    name = CHANNEL

    def __init__(self) -> None:
        self._channel = RecorderChannel(Path(os.environ.get("RECORDER_FILE", "recorder.jsonl")),
                                        float(os.environ.get("RECORDER_DELAY", "0")))

    def mount(self, app: Flask, ctx: ConnectorContext) -> None:
        app.register_blueprint(_blueprint(ctx))

    def channel(self) -> Channel:
        return self._channel


def _blueprint(ctx: ConnectorContext) -> Blueprint:
    bp = Blueprint("recorder", __name__)

    @bp.post("/recorder/messages")
    def receive() -> tuple[Response, int]:
        body: Any = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("thread"), str) \
                or not isinstance(body.get("text"), str) or not body["text"].strip():
            raise BadRequest("send {thread, text, id?}", code="invalid_message")
        receipt = ctx.inbox.receive(Inbound(channel=CHANNEL, thread_key=body["thread"], text=body["text"],
                                            external_id=body.get("id"), customer_external_id=body["thread"]))
        return jsonify({"conversation_id": receipt.conversation_id, "seq": receipt.seq,
                        "duplicate": receipt.duplicate}), 202

    return bp


def received(path: Path) -> list[dict[str, Any]]:
    """Every delivery recorded so far, in the order it happened."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
