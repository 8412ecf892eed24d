"""Reading the support mailbox over IMAP with ``imapclient``.

Every poll selects the folder, compares UIDVALIDITY with the stored one (a new UIDVALIDITY means
the server renumbered: read everything again, the Message-ID dedupe drops what is stored already),
fetches the messages above the last stored UID in UID order, hands each to ``handle`` (which
stores it) and only then records its UID: nothing is fetched twice, nothing is missed after
downtime. A lease lock in the database lets one poller at a time read a mailbox. Between polls the
poller waits in IDLE when the server offers it, else sleeps for the poll interval.
"""

from __future__ import annotations

import logging
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from imapclient import IMAPClient

from helpdesk.connectors.email.mailboxes import MailboxState

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database

log = logging.getLogger(__name__)
_DEFAULT_PORTS = {"imap": 143, "imap+starttls": 143, "imaps": 993}
_BATCH = 25
#: a message whose storing failed this many times in a row is skipped (it stays in the mailbox)
MAX_FAILURES = 5
#: servers drop IDLE after 30 minutes (RFC 2177); renew well before
MAX_IDLE_SECONDS = 25 * 60

#: Stores one raw message; raises when it could not be stored (the UID is then not recorded).
Handler = Callable[[bytes], object]


@dataclass(frozen=True)
class ImapConfig:
    """Where the support mailbox is."""

    host: str
    port: int
    security: str
    """``plain``, ``starttls`` or ``ssl``."""
    username: str
    password: str
    folder: str = "INBOX"
    cafile: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0) -> ImapConfig:
        """Parse ``HELPDESK_IMAP_URL`` (``imap://``, ``imap+starttls://``, ``imaps://user:pass@host:port/FOLDER``).

        Raises:
            ValueError: an unknown scheme, no host or no user.
        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"HELPDESK_IMAP_URL: unknown scheme {parts.scheme!r} (imap, imap+starttls, imaps)")
        if not parts.hostname or not parts.username:
            raise ValueError("HELPDESK_IMAP_URL: needs user and host (imaps://user:password@host/INBOX)")
        security = {"imap": "plain", "imap+starttls": "starttls", "imaps": "ssl"}[scheme]
        query = parse_qs(parts.query)
        return cls(host=parts.hostname, port=parts.port or _DEFAULT_PORTS[scheme], security=security,
                   username=unquote(parts.username), password=unquote(parts.password or ""),
                   folder=unquote(parts.path.lstrip("/")) or "INBOX",
                   cafile=next(iter(query.get("cafile") or []), None),
                   timeout=timeout)

    @property
    def name(self) -> str:
        """The mailbox's identity without the password."""
        return f"imap://{self.username}@{self.host}:{self.port}/{self.folder}"[:255]

    def connect(self) -> IMAPClient:
        context = ssl.create_default_context(cafile=self.cafile) if self.security != "plain" else None
        client = IMAPClient(self.host, port=self.port, ssl=self.security == "ssl", ssl_context=context,
                            timeout=self.timeout)
        try:
            if self.security == "starttls":
                client.starttls(context)
            client.login(self.username, self.password)
        except BaseException:
            client.shutdown()
            raise
        return client


class ImapPoller:
    """Polls one mailbox folder and hands new messages to ``handle``.

    Args:
        config: the mailbox.
        db: where UIDVALIDITY, the last UID and the lock live.
        handle: stores one raw message (raise to have it fetched again next time).
        max_bytes: larger messages are handed over as their headers plus a note.
        idle: wait in IDLE between polls when the server offers it.
        import_existing: on the first connection to a mailbox, read the mail already in it (else
            start with the mail that arrives from then on, so that old mail gets no replies).
    """

    def __init__(self, config: ImapConfig, db: Database, handle: Handler, *, max_bytes: int = 25 * 1024 * 1024,
                 idle: bool = True, lease: float = 120.0, import_existing: bool = False) -> None:
        self.config, self.handle, self.max_bytes, self.idle = config, handle, max_bytes, idle
        self.import_existing = import_existing
        self.state = MailboxState(db, config.name, f"{uuid.uuid4().hex[:16]}", lease=lease)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[tuple[int, int], int] = {}

    # --- one poll -----------------------------------------------------------------------
    def poll_once(self) -> int:
        """Connect, store every new message, disconnect; return how many were handed over.

        Returns 0 without connecting while another poller holds the mailbox's lock."""
        self.state.ensure()
        if not self.state.acquire():
            return 0
        try:
            client = self.config.connect()
            try:
                return self._sync(client)
            finally:
                client.logout()
        finally:
            self.state.release()

    def _sync(self, client: IMAPClient) -> int:
        status = client.select_folder(self.config.folder)
        uidvalidity = int(status[b"UIDVALIDITY"])
        stored_validity, last_uid = self.state.position()
        if stored_validity is None and not self.import_existing:
            # the first look at this mailbox: what is in it already is history, not new mail
            start = int(status.get(b"UIDNEXT") or max(client.search(["ALL"]) or [0]) + 1) - 1
            self.state.advance(uidvalidity, start)
            log.info("email.imap.first_poll", extra={"mailbox": self.config.name, "skipped_through_uid": start})
            return 0
        if stored_validity != uidvalidity:
            if stored_validity is not None:
                log.warning("email.imap.uidvalidity_changed", extra={"mailbox": self.config.name,
                                                                      "was": stored_validity, "now": uidvalidity})
            last_uid = 0
            self.state.advance(uidvalidity, 0)
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        handled = 0
        for start in range(0, len(uids), _BATCH):
            batch = uids[start:start + _BATCH]
            for uid, raw in self._fetch(client, batch):
                self._handle(uidvalidity, uid, raw)
                self.state.advance(uidvalidity, uid)
                handled += 1
            if not self.state.acquire():  # renew the lease; lost it → stop writing
                break
        return handled

    def _handle(self, uidvalidity: int, uid: int, raw: bytes) -> None:
        """Store one message; a failure leaves its UID unrecorded (it comes again), except for a
        message that failed :data:`MAX_FAILURES` times in a row: that one is logged and passed over
        so that it cannot hold up the mail behind it (it stays in the mailbox)."""
        key = (uidvalidity, uid)
        try:
            self.handle(raw)
        except Exception:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures < MAX_FAILURES:
                raise
            log.exception("email.imap.message_skipped", extra={"mailbox": self.config.name, "uid": uid})
        self._failures.pop(key, None)

    def _fetch(self, client: IMAPClient, uids: list[int]) -> list[tuple[int, bytes]]:
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        small = [u for u in uids if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= self.max_bytes]
        large = [u for u in uids if u not in small]
        bodies: dict[int, Any] = {}
        if small:
            bodies.update({u: d.get(b"BODY[]") for u, d in client.fetch(small, ["BODY.PEEK[]"]).items()})
        if large:
            for u, d in client.fetch(large, ["BODY.PEEK[HEADER]"]).items():
                note = (f"This message ({int(sizes[u][b'RFC822.SIZE'])} bytes) is larger than the helpdesk accepts;"
                        " it stays in the mailbox.\r\n")
                bodies[u] = _headers_only(d.get(b"BODY[HEADER]") or b"") + note.encode()
        return [(u, bytes(bodies[u])) for u in uids if bodies.get(u) is not None]

    # --- running in the background -------------------------------------------------------
    def start(self, interval: float = 30.0) -> None:
        """Poll in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the IMAP poller is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(interval,), name="imap-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self, interval: float) -> None:
        """Until stopped: hold the mailbox's lock, read new mail, wait (IDLE or sleep) on the same
        connection, repeat; errors back off and start over with a new connection."""
        failures = 0
        while not self._stop.is_set():
            try:
                self._hold_and_poll(interval)
                failures = 0
            except Exception:
                failures += 1
                log.exception("email.imap.poll_failed", extra={"mailbox": self.config.name})
                self._stop.wait(min(interval * 2 ** min(failures, 6), 600.0))

    def _hold_and_poll(self, interval: float) -> None:
        self.state.ensure()
        if not self.state.acquire():  # another process reads this mailbox; look again later
            self._stop.wait(min(interval, self.state.lease))
            return
        try:
            client = self.config.connect()
            try:
                idle = self.idle and b"IDLE" in client.capabilities()
                while not self._stop.is_set():
                    self._sync(client)
                    if not self._wait(client, interval, idle=idle):
                        return  # the lease was lost: let the new holder poll
            finally:
                client.logout()
        finally:
            self.state.release()

    def _wait(self, client: IMAPClient, interval: float, *, idle: bool) -> bool:
        """Wait up to ``interval`` (in IDLE, until the server announces mail); renew the lease meanwhile.

        Returns ``False`` when the lease could not be renewed."""
        renew_every = max(self.state.lease / 3, 1.0)
        waited, since_renewal = 0.0, 0.0
        limit = min(interval, MAX_IDLE_SECONDS)
        if idle:
            client.idle()
        try:
            while not self._stop.is_set() and waited < limit:
                if idle:
                    if client.idle_check(timeout=1.0):
                        return True  # EXISTS/RECENT: go and fetch
                else:
                    self._stop.wait(1.0)
                waited += 1.0
                since_renewal += 1.0
                if since_renewal >= renew_every:
                    since_renewal = 0.0
                    if not self.state.acquire():
                        return False
            return True
        finally:
            if idle:
                client.idle_done()


def _headers_only(header: bytes) -> bytes:
    return header.rstrip(b"\r\n") + b"\r\n\r\n"
