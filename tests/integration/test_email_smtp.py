"""The SMTP sender against a real SMTP server (aiosmtpd): plain, STARTTLS and TLS, login, failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trustme

from helpdesk.connectors.email.compose import OutgoingEmail, compose
from helpdesk.connectors.email.smtp import SmtpConfig, SmtpFailure, SmtpSender
from tests.mailservers import SmtpServer, free_port, smtp_server  # noqa: F401 - fixture


def message(to: str = "jane@example.org") -> OutgoingEmail:
    return OutgoingEmail(to=to, subject="Re: order", text="Your order left the warehouse.",
                         message_id="<m1@shop.example>", from_address="support@shop.example",
                         reply_to="support+1-abc@shop.example", from_name="Northwind Support")


def test_plain_smtp_delivers_the_message(smtp_server: SmtpServer) -> None:  # noqa: F811
    SmtpSender(SmtpConfig.from_url(smtp_server.url)).send(compose(message()))
    [got] = smtp_server.wait_for(1)
    assert got.mail_from == "support@shop.example" and got.rcpt_tos == ("jane@example.org",)
    assert got.message["Message-ID"] == "<m1@shop.example>"
    assert got.message.get_body(("plain",)).get_content().strip() == "Your order left the warehouse."


@pytest.fixture(params=["starttls", "ssl"])
def tls_server(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    server = SmtpServer(tls=request.param, auth=True, ca=trustme.CA())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_starttls_and_tls_with_login(tls_server: SmtpServer) -> None:
    SmtpSender(SmtpConfig.from_url(tls_server.url)).send(compose(message()))
    assert len(tls_server.wait_for(1)) == 1


def test_a_wrong_password_is_a_permanent_failure(tls_server: SmtpServer) -> None:
    url = tls_server.url.replace("s3cret-smtp", "wrong")
    with pytest.raises(SmtpFailure) as failure:
        SmtpSender(SmtpConfig.from_url(url)).send(compose(message()))
    assert failure.value.permanent
    assert tls_server.received == []


def test_an_untrusted_certificate_is_refused(tls_server: SmtpServer) -> None:
    url = tls_server.url.split("?")[0]  # the system CAs do not know the test CA
    with pytest.raises(SmtpFailure) as failure:
        SmtpSender(SmtpConfig.from_url(url)).send(compose(message()))
    assert not failure.value.permanent
    assert tls_server.received == []


def test_a_server_that_is_down_is_a_transient_failure() -> None:
    with pytest.raises(SmtpFailure) as failure:
        SmtpSender(SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=3)).send(compose(message()))
    assert not failure.value.permanent


def test_a_4xx_is_transient_and_a_5xx_permanent(smtp_server: SmtpServer) -> None:  # noqa: F811
    sender = SmtpSender(SmtpConfig.from_url(smtp_server.url))
    smtp_server.reject_with = "451 4.3.0 try again later"
    with pytest.raises(SmtpFailure) as transient:
        sender.send(compose(message()))
    smtp_server.reject_with = "550 5.7.1 rejected"
    with pytest.raises(SmtpFailure) as permanent:
        sender.send(compose(message()))
    assert (transient.value.permanent, permanent.value.permanent) == (False, True)


@pytest.mark.parametrize("url", ["http://x", "smtp://", "ftp://a@b"])
def test_bad_urls_are_refused_with_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match="HELPDESK_SMTP_URL"):
        SmtpConfig.from_url(url)


def test_url_parts() -> None:
    config = SmtpConfig.from_url("smtp+starttls://user%40x:p%3Ass@mail.example?cafile=/ca.pem")
    assert (config.host, config.port, config.security, config.username, config.password, config.cafile) == (
        "mail.example", 587, "starttls", "user@x", "p:ss", "/ca.pem")
    assert SmtpConfig.from_url("smtps://mail.example").port == 465
