"""Sending mail through ``HELPDESK_SMTP_URL`` with :mod:`smtplib`.

``smtp://user:pass@host:25`` (plain, for a local relay), ``smtp+starttls://…:587`` (STARTTLS,
required) and ``smtps://…:465`` (TLS from the start). User and password are URL-encoded;
``?cafile=/path`` trusts another CA (a private relay). Failures raise :class:`SmtpFailure`:
transient ones (connection refused, 4xx) are retried by the outbox with backoff, permanent ones
(5xx for every recipient) are marked so the outbox can give up.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class SmtpFailure(Exception):
    """A message could not be handed to the SMTP server."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        if retry_after is not None:
            self.retry_after = retry_after


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send."""

    host: str
    port: int
    security: str
    """``plain``, ``starttls`` or ``ssl``."""
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0) -> SmtpConfig:
        """Parse ``HELPDESK_SMTP_URL``.

        Raises:
            ValueError: an unknown scheme or no host.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"HELPDESK_SMTP_URL: unknown scheme {parts.scheme!r} (smtp, smtp+starttls, smtps)")
        if not parts.hostname:
            raise ValueError("HELPDESK_SMTP_URL: no host")
        security = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "ssl"}[scheme]
        query = parse_qs(parts.query)
        return cls(host=parts.hostname, port=parts.port or _DEFAULT_PORTS[scheme], security=security,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   cafile=next(iter(query.get("cafile") or []), None), timeout=timeout)

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)


class SmtpSender:
    """Hands messages to one SMTP server, a connection per message (no idle connections to go stale)."""

    def __init__(self, config: SmtpConfig, *, local_hostname: str | None = None) -> None:
        self.config = config
        #: the EHLO name; smtplib would look it up (a reverse DNS query) on every connection
        self.local_hostname = local_hostname or socket.getfqdn()

    def send(self, message: EmailMessage) -> None:
        """Send one message to its ``To`` recipients.

        Raises:
            SmtpFailure: the server could not be reached or refused the message.
        """
        try:
            with self._connect() as client:
                self._login(client)
                refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise SmtpFailure(f"recipients refused: {error.recipients}",
                              permanent=all(c >= 500 for c in codes)) from error
        except smtplib.SMTPResponseException as error:
            raise SmtpFailure(f"SMTP {error.smtp_code}: {error.smtp_error!r}",
                              permanent=error.smtp_code >= 500) from error
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            raise SmtpFailure(f"{type(error).__name__}: {error}") from error
        if refused:  # some recipients refused; the rest got it: nothing to retry
            return

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.security == "ssl":
            return smtplib.SMTP_SSL(config.host, config.port, local_hostname=self.local_hostname,
                                    timeout=config.timeout, context=config.tls_context())
        client = smtplib.SMTP(config.host, config.port, local_hostname=self.local_hostname, timeout=config.timeout)
        if config.security == "starttls":
            try:
                client.starttls(context=config.tls_context())
            except BaseException:
                client.close()
                raise
        return client

    def _login(self, client: smtplib.SMTP) -> None:
        if self.config.username:
            client.login(self.config.username, self.config.password or "")
