"""kill -9 both workers while the outbox holds replies for Slack and email (the store-and-forward
channels; the widget is live — its replies go out through socket.io from whichever process ran
the turn, never through the outbox — so its visitors keep being answered meanwhile): after the
workers restart together (racing for every row), every reply is delivered exactly once, through
the real slack_sdk to the loopback Slack API and over SMTP to a real aiosmtpd server. What the worker owes a widget visitor — a timer
that came due while it was dead (the inactivity auto-resolve after an agent's answer) — fires once
after the restart, and its notice reaches the visitor's socket (on a web process) once."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable

import httpx
from sqlalchemy import select

from helpdesk.conversations.models import Message, Outbox, utcnow
from helpdesk.handoff import auth
from helpdesk.handoff.models import Timer
from helpdesk.handoff.texts import AUTO_RESOLVED
from tests.e2e.widget_helpers import WidgetClient
from tests.fakes.slack_events import fixture, signed
from tests.fakes.slack_server import FakeSlack
from tests.integration.email_app import mail
from tests.integration.test_handoff_support import PASSWORD, login
from tests.mailservers import SmtpServer
from tests.production.conftest import StartTopology, answered_once, database, messages
from tests.production.visitors import Visitor

SECRET = "production-signing-secret"
SUPPORT = "support@shop.example"
TOKEN = "production-inbound-token"


def slack_event(number: int) -> bytes:
    data = fixture("message")
    ts = f"1700000{number:03d}.000100"
    data["event_id"] = f"Ev_PROD_{number}"
    data["event"].update(ts=ts, event_ts=ts, client_msg_id=f"prod-{number}", text="where is my order A1002")
    return json.dumps(data).encode()


def post_slack(url: str, number: int) -> None:
    body = slack_event(number)
    response = httpx.post(url + "/slack/events", content=body, headers=signed(SECRET, body), timeout=30)
    assert response.status_code == 200, response.text


def post_email(url: str, number: int) -> None:
    raw = mail(f"customer{number}@example.org", "Where is my order A1002?")
    response = httpx.post(url + "/email/inbound", content=raw, timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "message/rfc822"})
    assert response.status_code in (200, 202), response.text


def outbox(url: str) -> list[Outbox]:
    with database(url) as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def eventually(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.1)


def workspace(slack: FakeSlack) -> None:
    slack.add_user("U_CUST", "Ada Customer", team="T_CUST", email="ada@acme.example")
    slack.add_channel("C_SUPPORT", name="support-acme", shared=True)
    slack.workspace.team_id = "T_OURS"


def test_replies_queued_while_the_worker_is_dead_are_delivered_once_after_it_restarts(
        start_topology: StartTopology) -> None:
    smtp = SmtpServer()
    smtp.start()
    try:
        with FakeSlack() as slack:
            workspace(slack)
            env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET,
                   "HELPDESK_SLACK_API_URL": slack.api_url, "HELPDESK_SLACK_SUPPORT_CHANNELS": "C_SUPPORT",
                   "HELPDESK_SLACK_PACE_SECONDS": "0", "HELPDESK_SLACK_GROUP_WINDOW": "0",
                   "HELPDESK_EMAIL_ADDRESS": SUPPORT, "HELPDESK_SMTP_URL": smtp.url,
                   "HELPDESK_EMAIL_INBOUND_TOKEN": TOKEN, "HELPDESK_OUTBOX_INTERVAL": "0.2",
                   "HELPDESK_OUTBOX_LEASE": "5", "HELPDESK_HANDOFF_INACTIVITY_SECONDS": "1",
                   "HELPDESK_TIMER_INTERVAL": "0.2", "HELPDESK_AGENT_HEARTBEAT_TIMEOUT": "3600"}
            with start_topology(web=2, workers=2, env=env) as topology:
                run_scenario(topology, slack, smtp)
    finally:
        smtp.stop()


def run_scenario(topology: object, slack: FakeSlack, smtp: SmtpServer) -> None:
    from deploy.topology import Topology

    assert isinstance(topology, Topology)
    url, db = topology.url, topology.database_url
    post_slack(url, 0)
    post_email(url, 0)  # with the worker alive: delivered at once
    eventually(lambda: outbox(db) and all(r.status == "sent" for r in outbox(db)) and len(smtp.received) >= 1,
               "the first replies")
    for index in range(len(topology.workers)):
        topology.kill_worker(index)
    before = len(outbox(db))
    for number in range(1, 6):
        post_slack(url, number)
        post_email(url, number)
    visitor = Visitor(url)

    async def chat() -> None:  # the live channel does not need the worker
        await visitor.connect()
        await visitor.chat(1, think=0.0)
        await visitor.close()

    asyncio.run(asyncio.wait_for(chat(), 60))
    assert visitor.unanswered == [] and visitor.conversation_id is not None
    assert answered_once(messages(db, visitor.conversation_id), list(visitor.acked)) == []
    tab, waiting = widget_answered_by_an_agent(topology)  # its inactivity timer comes due meanwhile
    # every turn ran in the web processes; their replies wait in the outbox, undelivered
    eventually(lambda: {r.channel for r in outbox(db)[before:]} == {"slack", "email"}
               and len({r.conversation_id for r in outbox(db)[before:]}) == 10, "the queued replies")
    time.sleep(1.0)
    queued = outbox(db)[before:]
    assert {r.status for r in queued} == {"pending"}
    sent_before = (len(slack.posted("C_SUPPORT")), len(smtp.received))
    eventually(lambda: timer_due(db, waiting), "the widget conversation's inactivity timer due")
    assert AUTO_RESOLVED not in [m["text"] for m in tab.messages()], "nobody fires timers while the worker is dead"
    topology.start_workers()  # side by side: they race for every row
    eventually(lambda: all(r.status == "sent" for r in outbox(db)), "delivery after the restart")
    time.sleep(1.5)  # anything delivered twice would arrive now
    rows = outbox(db)
    posts = slack.posted("C_SUPPORT")
    slack_rows = [r for r in rows if r.channel == "slack"]
    email_rows = [r for r in rows if r.channel == "email"]
    assert len(posts) == len(slack_rows) > sent_before[0]
    assert not [k for k, n in Counter((p.get("thread_ts"), p.get("text")) for p in posts).items() if n > 1]
    assert email_rows and len(smtp.received) > sent_before[1]
    # a turn's replies go out together as one mail (connectors/email/channel.py): one per customer mail
    assert Counter(r.rcpt_tos for r in smtp.received) == {(f"customer{n}@example.org",): 1 for n in range(6)}
    ids = [r.message["Message-ID"] for r in smtp.received]
    assert len(set(ids)) == len(ids)
    try:
        tab.wait_for("message", lambda m: m["text"] == AUTO_RESOLVED, timeout=30)
        assert [m["text"] for m in tab.messages()].count(AUTO_RESOLVED) == 1
        with database(db) as session:
            notices = session.scalars(select(Message.id).where(Message.conversation_id == waiting,
                                                               Message.text == AUTO_RESOLVED)).all()
        assert len(notices) == 1
    finally:
        tab.disconnect()


def timer_due(url: str, conversation_id: int) -> bool:
    with database(url) as session:
        due = session.scalar(select(Timer.due_at).where(Timer.conversation_id == conversation_id,
                                                        Timer.kind == "inactivity"))
    return due is not None and due <= utcnow()


def widget_answered_by_an_agent(topology: object) -> tuple[WidgetClient, int]:
    """A widget visitor (through nginx) handed to an agent, who answers: the inactivity timer is armed
    for a second later. Returns the visitor's tab, still connected, and the conversation id."""
    from deploy.topology import Topology

    assert isinstance(topology, Topology)
    with database(topology.database_url) as session, session.begin():
        auth.create_agent(session, "ann@example.com", "Ann", PASSWORD, role="agent", teams=[])
    ann = login(topology.url, "ann@example.com")
    tab = WidgetClient(topology.url)
    tab.connect()
    cid = int(tab.send("I want to talk to a human")["conversation_id"])
    tab.wait_for("status", lambda s: s["status"] == "queued", timeout=30)
    for action, body in (("claim", None), ("messages", {"text": "Ann here. Anything else?"})):
        response = httpx.post(f"{topology.url}/api/v1/conversations/{cid}/{action}", json=body, headers=ann,
                              timeout=30)
        assert response.status_code in (200, 201), response.text
    tab.wait_for("message", lambda m: m["role"] == "agent", timeout=30)
    return tab, cid
