"""SIGTERM stops a web process gracefully (issue 14, "Operations"): it refuses new connections at
once, takes no new turns, finishes the turn in flight — its reply stored and delivered to the
visitor — and then exits 0. Real processes: ``helpdesk serve`` (gunicorn) and ``helpdesk run``
(werkzeug), a real rasa-sdk action server whose action takes 10 s, a real socket.io client. The
process logs JSON (HELPDESK_LOG_FORMAT=json): its turn's record carries the conversation id."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from helpdesk.conversations.models import Message
from tests.integration.test_slow_action_isolation import DOMAIN, FLOWS  # the ten-second action's assistant

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "/widget"
START_TIMEOUT = 120.0  # the process builds the whole app (assistant, knowledge) on a loaded machine
STEP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


@contextmanager
def helpdesk_process(command: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    script = Path(sys.executable).with_name("helpdesk")
    with log.open("wb") as out:
        process = subprocess.Popen([str(script), command], env=env, cwd=log.parent, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only what this test started
            process.wait()


@pytest.mark.parametrize("command,database", [("serve", "postgres"), ("run", "sqlite")])
def test_sigterm_finishes_the_turn_in_flight_then_exits_0(command: str, database: str, action_server: str,
                                                         tmp_path: Path, request: pytest.FixtureRequest) -> None:
    db_url = str(request.getfixturevalue(f"{database}_url"))
    assistant = tmp_path / "assistant"
    assistant.mkdir()
    (assistant / "flows.yml").write_text(FLOWS)
    (assistant / "domain.yml").write_text(DOMAIN)
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("HELPDESK_", "SLACK_", "ANTHROPIC_"))}
    env.update({
        "HELPDESK_DATABASE_URL": db_url, "HELPDESK_AUTO_MIGRATE": "true", "HELPDESK_SECRET_KEY": "test-secret",
        "HELPDESK_INSTANCE_PATH": str(tmp_path / "instance"), "HELPDESK_ASSISTANT": str(assistant),
        "HELPDESK_HOST": "127.0.0.1", "HELPDESK_PORT": str(port), "HELPDESK_ACTION_SERVER_URL": action_server,
        "HELPDESK_ACTION_TIMEOUT": "30", "HELPDESK_GRACEFUL_TIMEOUT": "60", "HELPDESK_LOG_FORMAT": "json",
        "HELPDESK_SERVER_THREADS": "50", "HELPDESK_WIDGET_TYPING_DELAY": "0",
        "HELPDESK_KNOWLEDGE_RELOAD_SECONDS": "0", "HELPDESK_NEW_SESSIONS_PER_MINUTE": "0",
        "HELPDESK_ADDRESS_RATE_PER_MINUTE": "0", "PYTHONUNBUFFERED": "1",
    })
    log = tmp_path / f"{command}.log"
    events: list[tuple[str, Any]] = []
    client = socketio.Client(reconnection=False)
    for name in ("session", "message", "typing"):
        client.on(name, lambda data, name=name: events.append((name, data)), namespace=NAMESPACE)
    client.on("disconnect", lambda *reason: events.append(("disconnect", reason)), namespace=NAMESPACE)

    def bot_replies() -> list[str]:
        return [data.get("text") for name, data in events if name == "message" and data.get("role") == "bot"]

    with helpdesk_process(command, env, log) as process:
        url = f"http://127.0.0.1:{port}"

        def alive() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(url + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(alive, START_TIMEOUT, f"helpdesk {command} ready")
        client.connect(url, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=30)
        ack = client.call("message", {"text": "/slow", "client_id": "graceful-1"}, namespace=NAMESPACE,
                          timeout=STEP_TIMEOUT)
        assert "seq" in ack, ack
        wait_for(lambda: any(n == "typing" and d.get("typing") for n, d in events), STEP_TIMEOUT,
                 "the turn started (the bot typing)")
        process.send_signal(signal.SIGTERM)  # the action server is 10 s from answering
        wait_for(lambda: refused(port), STEP_TIMEOUT, "new connections refused after SIGTERM")
        replies_when_refused = bot_replies()
        try:
            returncode = process.wait(timeout=STEP_TIMEOUT + 60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"helpdesk {command} did not exit after SIGTERM:\n{log.read_text()[-5000:]}")
        wait_for(lambda: any(n == "disconnect" for n, _ in events), STEP_TIMEOUT, "the server closed the socket")
    client.disconnect()
    output = log.read_text()
    assert returncode == 0, output[-5000:]
    assert replies_when_refused == [], "the turn should still have been running when new connections were refused"
    assert bot_replies()[:1] == ["done after 10 s"], (events, output[-5000:])  # delivered live, before the close
    conversation_id = ack["conversation_id"]
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            rows = list(session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                        .order_by(Message.seq)))
    finally:
        engine.dispose()
    assert [(m.role, m.text) for m in rows[:2]] == [("customer", "/slow"), ("bot", "done after 10 s")]
    assert all(m.role == "bot" and m.in_reply_to == rows[0].id for m in rows[1:])
    assert [m.text for m in rows[1:]] == bot_replies()  # every reply stored was delivered
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    banners = [line for line in output.splitlines() if line and not line.startswith("{")]
    assert all(line.startswith("Helpdesk ") for line in banners), banners  # everything else is a JSON record
    turns = [r for r in records if r["message"] == "routing.turn"]
    assert [(r["conversation_id"], r["channel"]) for r in turns] == [(conversation_id, "widget")], output[-5000:]
    assert any(r["message"] == "app.stopping" for r in records)

