"""The email channel end to end: webhook and IMAP in, the assistant and agents answering by SMTP.

Real parts only: the app with its outbox thread, SQLite and PostgreSQL, aiosmtpd as the SMTP
server, Dovecot as the mailbox.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from helpdesk.connectors.email.models import EmailBounce
from helpdesk.conversations.models import Customer, Message
from tests.integration.email_app import (
    SUPPORT,
    conversations,
    email_app,
    eventually,
    mail,
    messages,
    outbox_rows,
    post_mail,
    settle,
)
from tests.integration.test_handoff_support import add_agent
from tests.integration.test_handoff_timers import agent_headers
from tests.mailservers import DovecotServer, SmtpServer, dovecot, smtp_server  # noqa: F401 - fixtures

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def test_an_email_gets_a_threaded_bot_reply_and_the_answer_continues_the_conversation(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    with email_app(db_url, tmp_path, smtp_server.url) as app:
        client = app.test_client()
        first = mail("Maria Garcia <maria@example.org>", "Hello, where is my order?")
        stored = post_mail(client, first)
        assert stored["status"] == "stored" and stored["seq"] == 1
        settle(app)
        [reply] = smtp_server.wait_for(1)
        msg = reply.message
        assert reply.rcpt_tos == ("maria@example.org",)
        assert msg["From"] == f"Northwind Support <{SUPPORT}>"
        assert msg["To"] == "Maria Garcia <maria@example.org>"
        assert msg["Subject"] == "Re: Where is my order?"
        assert msg["Auto-Submitted"] == "auto-replied"
        first_id = stored["message_id"]
        assert msg["In-Reply-To"] == first_id and msg["References"] == first_id
        reply_to = str(msg["Reply-To"])
        assert reply_to.startswith("support+") and reply_to.endswith("@shop.example")
        assert "order number" in msg.get_body(("plain",)).get_content()

        # the customer answers from their mail client: to the Reply-To, quoting the bot
        quoted = "It is A1002\n\nOn Monday Northwind Support wrote:\n> What's your order number?"
        answer = mail("maria@example.org", quoted,
                      subject="Re: Where is my order?", to=reply_to, in_reply_to=str(msg["Message-ID"]),
                      references=f"{first_id} {msg['Message-ID']}")
        second = post_mail(client, answer)
        assert second["conversation_id"] == stored["conversation_id"] and second["seq"] > stored["seq"]
        settle(app)
        replies = smtp_server.wait_for(2)
        threaded = replies[1].message
        assert threaded["In-Reply-To"] == second["message_id"]
        assert str(threaded["References"]).split() == [first_id, str(msg["Message-ID"]), second["message_id"]]
        customer_texts = [m.text for m in messages(app, stored["conversation_id"]) if m.role == "customer"]
        assert customer_texts == ["Hello, where is my order?", "It is A1002"], "quoted history stripped"
        assert len(conversations(app)) == 1
        eventually(lambda: all(r.status == "sent" for r in outbox_rows(app)), "the outbox drained")
        rows = messages(app, stored["conversation_id"])
        order_number = [m.id for m in rows if m.role == "customer"][1]
        answers = [m.text for m in rows if m.role == "bot" and m.in_reply_to == order_number]
        assert len(answers) >= 2, "the assistant said several things to the order number"
        assert len(smtp_server.received) == 2, "one mail per customer message"
        body = threaded.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert all(text in body for text in answers)


def test_after_handoff_an_agents_reply_goes_out_by_email_threaded(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    with email_app(db_url, tmp_path, smtp_server.url, handoff_assignment="manual") as app:
        client = app.test_client()
        add_agent(app, "ann@example.com", name="Ann", presence="away")
        stored = post_mail(client, mail("Jon <jon@example.org>", "I want to talk to a human", subject="Refund"))
        settle(app)
        cid = stored["conversation_id"]
        bot_mails = len(eventually(lambda: smtp_server.received, "the bot's handoff reply"))
        headers = agent_headers(client, "ann@example.com")
        assert client.post(f"/api/v1/conversations/{cid}/claim", headers=headers).status_code == 200
        response = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "Hi Jon, Ann here."},
                               headers=headers)
        assert response.status_code == 201, response.json
        agent_mail = smtp_server.wait_for(bot_mails + 1)[-1].message
        assert agent_mail["From"] == f"Ann from Northwind Support <{SUPPORT}>"
        assert agent_mail["Auto-Submitted"] is None, "a person's reply is not automatic"
        assert agent_mail["Subject"] == "Re: Refund"
        assert agent_mail["In-Reply-To"] == stored["message_id"]
        assert "Hi Jon, Ann here." in agent_mail.get_body(("plain",)).get_content()
        # the customer's answer reaches the agent's conversation, and the bot stays silent
        again = post_mail(client, mail("jon@example.org", "Thanks Ann", subject="Re: Refund",
                                       to=str(agent_mail["Reply-To"]), in_reply_to=str(agent_mail["Message-ID"])))
        settle(app)
        assert again["conversation_id"] == cid
        assert len(smtp_server.received) == bot_mails + 1


def test_the_same_message_by_webhook_twice_and_by_imap_is_stored_once(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer, dovecot: DovecotServer) -> None:  # noqa: F811
    raw = mail("Maria <maria@example.org>", "Hello, where is my order?")
    with email_app(db_url, tmp_path, smtp_server.url, imap_url=dovecot.url, imap_interval=0.5) as app:
        client = app.test_client()
        first, second = post_mail(client, raw), post_mail(client, raw)
        assert (first["status"], second["status"]) == ("stored", "duplicate")
        poller = app.extensions["helpdesk.email"].poller
        eventually(lambda: _has_looked(poller), "the poller's first look at the mailbox")
        dovecot.append(raw)  # the provider also left it in the mailbox
        dovecot.append(mail("Bob <bob@example.org>", "Do you ship to Norway?", subject="Shipping"))
        eventually(lambda: len(conversations(app)) == 2, "the IMAP poller stored Bob's message")
        eventually(lambda: poller.state.position()[1] == 2, "both mailbox messages handled")
        settle(app)
        maria = [m for m in messages(app, first["conversation_id"]) if m.role == "customer"]
        assert [m.text for m in maria] == ["Hello, where is my order?"], "stored once"
        eventually(lambda: len(smtp_server.received) == 2, "one reply each")
        assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["bob@example.org", "maria@example.org"]


def _has_looked(poller: object) -> bool:
    """The poller noted where the mailbox stood (mail appended from now on is new)."""
    try:
        return poller.state.position()[0] is not None  # type: ignore[attr-defined, no-any-return]
    except Exception:  # noqa: BLE001 - no row yet
        return False


def test_auto_replies_and_bounces_never_get_a_reply(db_url: str, tmp_path: Path,
                                                    smtp_server: SmtpServer) -> None:  # noqa: F811
    with email_app(db_url, tmp_path, smtp_server.url) as app:
        client = app.test_client()
        stored = post_mail(client, mail("Jane Doe <jane.doe@gmail.example>", "Hello, where is my order?"))
        settle(app)
        [bot] = smtp_server.wait_for(1)
        ooo = mail("Jane Doe <jane.doe@gmail.example>", "I am out of the office until Monday.",
                   subject="Automatic reply: Re: Where is my order?", to=str(bot.message["Reply-To"]),
                   in_reply_to=str(bot.message["Message-ID"]), headers={"Auto-Submitted": "auto-replied"})
        got = post_mail(client, ooo)
        assert got["conversation_id"] == stored["conversation_id"] and got["no_reply"] == "auto_submitted"
        for name in ("newsletter_bulk.eml", "outlook_ooo.eml"):
            assert post_mail(client, (FIXTURES / name).read_bytes())["no_reply"] in ("bulk", "auto_submitted")
        bounce_raw = (FIXTURES / "bounce_dsn.eml").read_bytes().replace(
            b"<ours-bounced@shop.example>", str(bot.message["Message-ID"]).encode()).replace(
            b"nobody@nowhere.example", b"jane.doe@gmail.example")
        bounce = post_mail(client, bounce_raw)
        assert bounce["status"] == "bounce" and bounce["conversation_id"] == stored["conversation_id"]
        settle(app)
        assert post_mail(client, bounce_raw)["status"] in ("duplicate", "bounce")  # recorded once
        with app.extensions["helpdesk"].db.read_session() as session:
            [row] = session.scalars(select(EmailBounce)).all()
            customer = session.scalars(select(Customer).where(Customer.email == "jane.doe@gmail.example")).one()
            assert (row.customer_id, row.status, row.permanent) == (customer.id, "5.1.1", True)
        eventually(lambda: all(r.status == "sent" for r in outbox_rows(app)), "the outbox drained")
        assert len(smtp_server.received) == 1, "no reply to the auto-reply, the newsletter or the bounce"


def test_a_forged_token_or_a_stranger_never_enters_another_customers_conversation(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    with email_app(db_url, tmp_path, smtp_server.url) as app:
        client = app.test_client()
        jane = post_mail(client, mail("jane@example.org", "Hello, where is my order?"))
        settle(app)
        [bot] = smtp_server.wait_for(1)
        token_address = str(bot.message["Reply-To"])
        stranger = post_mail(client, mail("mallory@evil.example", "Change the delivery address to mine",
                                          to=token_address, in_reply_to=str(bot.message["Message-ID"])))
        assert stranger["conversation_id"] != jane["conversation_id"] and stranger["refused"] == "stranger"
        local, domain = token_address.split("@")
        forged_to = f"{local[:-4]}aaaa@{domain}"
        forged = post_mail(client, mail("jane@example.org", "forged", to=forged_to))
        assert forged["conversation_id"] != jane["conversation_id"] and forged["refused"] == "forged_token"
        assert [m.text for m in messages(app, jane["conversation_id"]) if m.role == "customer"] == [
            "Hello, where is my order?"]


def test_with_the_smtp_server_down_replies_go_out_once_it_is_back(db_url: str, tmp_path: Path) -> None:
    server = SmtpServer()
    with email_app(db_url, tmp_path, server.url) as app:  # the server is not running yet
        stored = post_mail(app.test_client(), mail("maria@example.org", "Hello, where is my order?"))
        settle(app)
        eventually(lambda: any(r.attempts >= 1 and r.last_error for r in outbox_rows(app)), "a failed attempt")
        assert server.received == []
        server.start()
        try:
            [got] = server.wait_for(1, timeout=60)
            assert got.message["In-Reply-To"] == stored["message_id"]
            eventually(lambda: all(r.status == "sent" for r in outbox_rows(app)), "the row marked sent")
            app.extensions["helpdesk"].turns.wait_idle(5)
            assert len(server.received) == 1, "exactly once"
        finally:
            server.stop()


def test_automatic_replies_to_one_sender_are_capped_per_hour(db_url: str, tmp_path: Path,
                                                             smtp_server: SmtpServer) -> None:  # noqa: F811
    with email_app(db_url, tmp_path, smtp_server.url, email_auto_reply_limit=2) as app:
        client = app.test_client()
        for n in range(4):
            post_mail(client, mail("loop@example.org", f"where is my order {n}?", subject=f"Order {n}"))
        settle(app)
        eventually(lambda: all(r.status == "sent" for r in outbox_rows(app)) and len(outbox_rows(app)) >= 4,
                   "every row handled")
        assert len(smtp_server.received) == 2


def test_bad_webhook_requests_get_clear_errors_and_store_nothing(db_url: str, tmp_path: Path,
                                                                 smtp_server: SmtpServer) -> None:  # noqa: F811
    raw = mail("maria@example.org", "hello")
    with email_app(db_url, tmp_path, smtp_server.url, email_max_bytes=5000) as app:
        client = app.test_client()
        assert client.post("/email/inbound", data=raw).status_code == 401
        wrong = client.post("/email/inbound", data=raw, headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json["error"]["code"]) == (401, "invalid_token")
        auth = {"Authorization": "Bearer inbound-test-token"}
        bad = client.post("/email/inbound", data=b"no headers here", headers=auth)
        assert (bad.status_code, bad.json["error"]["code"]) == (400, "not_an_email")
        big = client.post("/email/inbound", data=raw + b"x" * 6000, headers=auth)
        assert (big.status_code, big.json["error"]["code"]) == (413, "message_too_large")
        assert conversations(app) == []
    with email_app(db_url, tmp_path, smtp_server.url, email_inbound_token=None) as app:
        off = app.test_client().post("/email/inbound", data=raw, headers={"Authorization": "Bearer x"})
        assert (off.status_code, off.json["error"]["code"]) == (403, "webhook_disabled")


def test_attachments_are_stored_and_agents_see_the_original(db_url: str, tmp_path: Path,
                                                            smtp_server: SmtpServer) -> None:  # noqa: F811
    with email_app(db_url, tmp_path, smtp_server.url, email_max_attachment_bytes=1024) as app:
        client = app.test_client()
        raw = (FIXTURES / "multipart_attachments.eml").read_bytes()
        stored = post_mail(client, raw)
        settle(app)
        [message] = [m for m in messages(app, stored["conversation_id"]) if m.role == "customer"]
        files = message.payload["attachments"]
        assert [(f["name"], f["content_type"]) for f in files] == [
            ("seam.png", "image/png"), ("Rechnung A1004 – Kopie.pdf", "application/pdf")]
        assert message.payload["email"]["skipped_attachments"][0]["reason"] == "too_large"
        add_agent(app, "ann@example.com", name="Ann", role="admin", presence="away")
        headers = agent_headers(client, "ann@example.com")
        detail = client.get(f"/api/v1/conversations/{stored['conversation_id']}", headers=headers).json
        [shown] = [m for m in detail["messages"] if m["role"] == "customer"]
        assert [a["name"] for a in shown["attachments"]] == ["seam.png", "Rechnung A1004 – Kopie.pdf"]
        png = client.get(f"/widget/attachments/{files[0]['id']}", headers=headers)
        assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
        original = client.get(f"/email/messages/{message.id}/original", headers=headers)
        assert original.status_code == 200 and original.data == raw
        assert original.headers["Content-Type"].startswith("text/plain")
        assert "sandbox" in original.headers["Content-Security-Policy"]
        assert client.get(f"/email/messages/{message.id}/original").status_code == 401
        assert client.get(f"/email/messages/{message.id}/original",
                          headers={"Authorization": "Bearer forged"}).status_code == 404


def test_stored_messages_keep_the_new_text_the_full_text_and_sanitised_html(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    with email_app(db_url, tmp_path, smtp_server.url) as app:
        stored = post_mail(app.test_client(), (FIXTURES / "html_only.eml").read_bytes())
        [message] = [m for m in messages(app, stored["conversation_id"]) if m.role == "customer"]
        email = message.payload["email"]
        assert email["subject"] == "Where is my parcel?" and email["from"]["address"] == "priya@webmail.example"
        assert "<script" not in email["html"] and "onclick" not in email["html"]
        assert message.text.startswith("Where is my parcel?") and "Kind regards" in email["full_text"]
        with app.extensions["helpdesk"].db.read_session() as session:
            assert session.scalar(select(Message.author).where(Message.id == message.id)) == "Priya S."


def test_the_same_message_delivered_concurrently_is_stored_once(db_url: str, tmp_path: Path,
                                                                smtp_server: SmtpServer) -> None:  # noqa: F811
    from concurrent.futures import ThreadPoolExecutor

    raw = (FIXTURES / "multipart_attachments.eml").read_bytes()
    with email_app(db_url, tmp_path, smtp_server.url) as app:
        def deliver(_: int) -> dict[str, object]:
            return post_mail(app.test_client(), raw)

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(deliver, range(4)))
        settle(app)
        assert sorted(r["status"] for r in results) == ["duplicate", "duplicate", "duplicate", "stored"]
        assert len({r["conversation_id"] for r in results}) == 1
        [message] = [m for m in messages(app, results[0]["conversation_id"]) if m.role == "customer"]
        with app.extensions["helpdesk"].db.read_session() as session:
            from helpdesk.conversations.attachments import Attachment

            kept = session.scalars(select(Attachment.message_id)).all()
        assert kept == [message.id] * len(message.payload["attachments"]), "no orphaned copies"


def test_nul_bytes_and_control_characters_are_stored_without_them(db_url: str, tmp_path: Path,
                                                                  smtp_server: SmtpServer) -> None:  # noqa: F811
    raw = (b"From: Nul \x00Name <nul@example.org>\r\nTo: support@shop.example\r\nSubject: a\x00b\r\n"
           b"Message-ID: <nul\x00id@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\x00world\r\n")
    with email_app(db_url, tmp_path, smtp_server.url) as app:  # PostgreSQL refuses NUL in text
        stored = post_mail(app.test_client(), raw)
        [message] = [m for m in messages(app, stored["conversation_id"]) if m.role == "customer"]
        assert message.text == "helloworld" and message.payload["email"]["subject"] == "a b"
