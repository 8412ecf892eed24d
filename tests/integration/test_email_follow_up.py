"""The promises the product makes by email: the off-hours widget customer who left an address gets the
agent's reply by email and their email answer lands in the same conversation; a chat transcript on
request. A real server, a real socket.io widget client, aiosmtpd, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.widget_helpers import WidgetClient, serve
from tests.integration.email_app import SUPPORT, TOKEN, mail, messages, post_mail, settle
from tests.integration.test_handoff_support import add_agent
from tests.integration.test_handoff_timers import agent_headers
from tests.mailservers import SmtpServer, smtp_server  # noqa: F401 - fixture

SATURDAY = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
EMAIL = dict(email_address=SUPPORT, email_inbound_token=TOKEN, email_from_name="Northwind Support",
             timers_in_web=False, knowledge_reload_seconds=0, outbox_interval=0.2)


def test_an_off_hours_widget_customer_gets_the_agents_reply_by_email_and_answers_into_the_chat(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    with serve(db_url, tmp_path, smtp_url=smtp_server.url, business_hours="mon-fri 09:00-17:00",
               business_timezone="Europe/Berlin", handoff_assignment="manual", **EMAIL) as server:
        app = server.app
        app.extensions["helpdesk"].handoff.clock = lambda: SATURDAY
        widget = WidgetClient(server.url)
        widget.connect()
        cid = widget.send("I want to talk to a real person")["conversation_id"]
        widget.wait_for("message", lambda m: "Leave your email address" in (m["text"] or ""))
        widget.send("sure, it's Jane.Doe@Example.org")
        widget.wait_for("message", lambda m: "We'll reply to jane.doe@example.org" in (m["text"] or ""))
        settle(app)
        assert smtp_server.received == [], "the chat's own messages are not emailed"

        # Monday: an agent answers in the dashboard; the customer is long gone from the page
        widget.disconnect()
        add_agent(app, "ann@example.com", name="Ann", presence="away")
        client = app.test_client()
        headers = agent_headers(client, "ann@example.com")
        assert client.post(f"/api/v1/conversations/{cid}/claim", headers=headers).status_code == 200
        response = client.post(f"/api/v1/conversations/{cid}/messages",
                               json={"text": "Hi Jane, your refund was sent today."}, headers=headers)
        assert response.status_code == 201, response.json
        [first] = smtp_server.wait_for(1)
        msg = first.message
        assert first.rcpt_tos == ("jane.doe@example.org",)
        assert msg["From"] == f"Ann from Northwind Support <{SUPPORT}>"
        assert msg["Subject"] == "Your conversation with Northwind Support"
        assert "your refund was sent today" in msg.get_body(("plain",)).get_content()
        assert msg["Auto-Submitted"] is None

        # she answers from her mail client: into the same conversation, shown to the agent
        answer = mail("Jane Doe <jane.doe@example.org>", "Great, thank you!\n\n> Hi Jane, your refund was sent today.",
                      subject=f"Re: {msg['Subject']}", to=str(msg["Reply-To"]), in_reply_to=str(msg["Message-ID"]))
        stored = post_mail(client, answer)
        assert stored["conversation_id"] == cid
        settle(app)
        detail = client.get(f"/api/v1/conversations/{cid}", headers=headers).json
        assert [m["text"] for m in detail["messages"] if m["role"] == "customer"][-1] == "Great, thank you!"
        assert smtp_server.received[1:] == [], "the bot stays silent while an agent has the conversation"

        # the agent's next reply is threaded under her answer
        client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "You're welcome!"}, headers=headers)
        second = smtp_server.wait_for(2)[1].message
        assert second["In-Reply-To"] == stored["message_id"]
        assert str(second["References"]).split() == [str(msg["Message-ID"]), stored["message_id"]]
        assert second["Subject"] == "Re: Your conversation with Northwind Support"


def test_a_customer_can_ask_for_the_transcript_by_email(db_url: str, tmp_path: Path,
                                                        smtp_server: SmtpServer) -> None:  # noqa: F811
    with serve(db_url, tmp_path, smtp_url=smtp_server.url, **EMAIL) as server:
        widget = WidgetClient(server.url)
        widget.connect()
        cid = widget.send("What are your opening hours?")["conversation_id"]
        widget.wait_for_bot("customer service team is available")
        widget.send("Can you email me the transcript of this chat?")
        widget.wait_for_bot("Which email address")
        widget.send("jane@example.org")
        widget.wait_for_bot("on its way to jane@example.org")
        [got] = smtp_server.wait_for(1)
        msg = got.message
        assert got.rcpt_tos == ("jane@example.org",)
        assert msg["Subject"] == "Transcript of your conversation with Northwind Support"
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        for line in ("You:\n  What are your opening hours?", "Assistant:\n  Our customer service team is available",
                     "You:\n  jane@example.org"):
            assert line in text
        widget.disconnect()
        settle(server.app)
        assert [m.role for m in messages(server.app, cid)][-1] == "bot"
        assert len(smtp_server.received) == 1, "only the transcript: the chat itself is not emailed"
