"""The IMAP poller against a real Dovecot: UID tracking, downtime, UIDVALIDITY changes, the lock, IDLE."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy

import pytest

from helpdesk.connectors.email.imap import ImapConfig, ImapPoller
from helpdesk.conversations.db import Database
from tests.mailservers import DovecotServer, dovecot  # noqa: F401 - fixture


def raw(n: int, size: int = 0) -> bytes:
    body = "x" * size if size else f"message number {n}"
    return (f"From: customer{n}@example.org\r\nTo: support@shop.example\r\nSubject: n{n}\r\n"
            f"Message-ID: <n{n}@example.org>\r\n\r\n{body}\r\n").encode()


class Inbox:
    """A handler that keeps what it was given (and can fail on purpose)."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.fail_on: str | None = None
        self.arrived = threading.Event()

    def __call__(self, data: bytes) -> None:
        mid = str(message_from_bytes(data, policy=policy.default)["Message-ID"])
        if mid == self.fail_on:
            raise RuntimeError("database down")
        self.got.append(data)
        self.arrived.set()

    @property
    def ids(self) -> list[str]:
        return [str(message_from_bytes(d, policy=policy.default)["Message-ID"]) for d in self.got]


def poller(server: DovecotServer, db: Database, inbox: Inbox, **options: object) -> ImapPoller:
    options.setdefault("import_existing", True)
    return ImapPoller(ImapConfig.from_url(server.url, timeout=10), db, inbox, **options)  # type: ignore[arg-type]


def test_by_default_the_first_poll_leaves_the_mail_already_there(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    for n in (1, 2):
        dovecot.append(raw(n))  # years of old mail in the support mailbox
    inbox = Inbox()
    reader = poller(dovecot, db, inbox, import_existing=False)
    assert reader.poll_once() == 0 and inbox.got == []
    dovecot.append(raw(3))
    assert reader.poll_once() == 1
    assert inbox.ids == ["<n3@example.org>"]


def test_new_mail_is_fetched_once_in_order(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    inbox = Inbox()
    for n in (1, 2, 3):
        dovecot.append(raw(n))
    reader = poller(dovecot, db, inbox)
    assert reader.poll_once() == 3
    assert reader.poll_once() == 0  # a re-poll fetches nothing twice
    dovecot.append(raw(4))
    assert reader.poll_once() == 1
    assert inbox.ids == ["<n1@example.org>", "<n2@example.org>", "<n3@example.org>", "<n4@example.org>"]


def test_mail_that_arrived_during_downtime_is_fetched_by_the_next_process(
        dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    first = Inbox()
    dovecot.append(raw(1))
    poller(dovecot, db, first).poll_once()
    for n in (2, 3):  # the helpdesk is down
        dovecot.append(raw(n))
    second = Inbox()  # a new process: only the database remembers
    assert poller(dovecot, db, second).poll_once() == 2
    assert second.ids == ["<n2@example.org>", "<n3@example.org>"]


def test_a_message_that_could_not_be_stored_is_fetched_again(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    inbox = Inbox()
    for n in (1, 2, 3):
        dovecot.append(raw(n))
    reader = poller(dovecot, db, inbox)
    inbox.fail_on = "<n2@example.org>"
    with pytest.raises(RuntimeError):
        reader.poll_once()
    assert inbox.ids == ["<n1@example.org>"]
    inbox.fail_on = None
    assert reader.poll_once() == 2
    assert inbox.ids == ["<n1@example.org>", "<n2@example.org>", "<n3@example.org>"]


def test_a_message_that_always_fails_is_passed_over_after_some_attempts(
        dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    from helpdesk.connectors.email.imap import MAX_FAILURES

    inbox = Inbox()
    for n in (1, 2):
        dovecot.append(raw(n))
    reader = poller(dovecot, db, inbox)
    inbox.fail_on = "<n1@example.org>"  # a poison message
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(RuntimeError):
            reader.poll_once()
    assert inbox.ids == []
    assert reader.poll_once() == 2  # logged and passed over; the mail behind it flows again
    assert inbox.ids == ["<n2@example.org>"]


def test_a_new_uidvalidity_reads_the_folder_again(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    admin = dovecot.client()
    admin.create_folder("Support")
    admin.append("Support", raw(1))
    inbox = Inbox()
    url = dovecot.url.replace("/INBOX", "/Support")
    reader = ImapPoller(ImapConfig.from_url(url), db, inbox, import_existing=True)
    assert reader.poll_once() == 1
    validity, last = reader.state.position()
    admin.delete_folder("Support")  # the server renumbers: UIDs start again at 1
    admin.create_folder("Support")
    admin.append("Support", raw(1))
    admin.append("Support", raw(2))
    admin.logout()
    assert reader.poll_once() == 2  # both again: the Message-ID dedupe downstream drops n1
    assert reader.state.position()[0] != validity and reader.state.position()[1] == 2 >= last


def test_only_one_poller_reads_a_mailbox_at_a_time(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    dovecot.append(raw(1))
    one, two = Inbox(), Inbox()
    holder, other = poller(dovecot, db, one), poller(dovecot, db, two)
    holder.state.ensure()
    assert holder.state.acquire()
    assert other.poll_once() == 0 and two.got == []
    holder.state.release()
    assert other.poll_once() == 1


def test_an_expired_lock_is_taken_over(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    dovecot.append(raw(1))
    crashed = poller(dovecot, db, Inbox(), lease=0.5)
    crashed.state.ensure()
    assert crashed.state.acquire()  # and then the process died
    time.sleep(0.6)
    inbox = Inbox()
    assert poller(dovecot, db, inbox).poll_once() == 1


def test_a_message_over_the_size_limit_arrives_as_headers_and_a_note(
        dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    dovecot.append(raw(1, size=5000))
    inbox = Inbox()
    poller(dovecot, db, inbox, max_bytes=2000).poll_once()
    [got] = inbox.got
    message = message_from_bytes(got, policy=policy.default)
    assert message["Message-ID"] == "<n1@example.org>"
    assert "larger than the helpdesk accepts" in message.get_content()


def test_idle_wakes_the_poller_when_mail_arrives(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    inbox = Inbox()
    reader = poller(dovecot, db, inbox)
    reader.start(interval=300)  # a poll every 5 minutes: only IDLE can bring the mail sooner
    try:
        time.sleep(1.5)  # first poll done, waiting in IDLE
        dovecot.append(raw(1))
        assert inbox.arrived.wait(30), "IDLE did not wake the poller"
        assert inbox.ids == ["<n1@example.org>"]
        dovecot.append(raw(2))
        other = Inbox()
        assert poller(dovecot, db, other).poll_once() == 0, "the running poller holds the mailbox"
        eventually_ids = lambda: inbox.ids == ["<n1@example.org>", "<n2@example.org>"]  # noqa: E731
        deadline = time.monotonic() + 30
        while not eventually_ids():
            assert time.monotonic() < deadline, "the second message never came"
            time.sleep(0.05)
    finally:
        reader.stop()
    assert poller(dovecot, db, Inbox()).state.acquire(), "stopping released the lock"


@pytest.mark.parametrize("url", ["http://x", "imap://host-without-user", "pop3://u@h"])
def test_bad_urls_are_refused_with_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match="HELPDESK_IMAP_URL"):
        ImapConfig.from_url(url)


def test_url_parts_and_the_name_without_password() -> None:
    config = ImapConfig.from_url("imaps://help%40shop.example:p%2Fw@imap.example/Support%20Inbox")
    assert (config.host, config.port, config.security, config.username, config.password, config.folder) == (
        "imap.example", 993, "ssl", "help@shop.example", "p/w", "Support Inbox")
    assert "p/w" not in config.name


def test_without_idle_the_poller_polls_at_its_interval(dovecot: DovecotServer, db: Database) -> None:  # noqa: F811
    inbox = Inbox()
    reader = poller(dovecot, db, inbox, idle=False)
    reader.start(interval=1)
    try:
        dovecot.append(raw(1))
        assert inbox.arrived.wait(30), "the next poll did not fetch the message"
        assert inbox.ids == ["<n1@example.org>"]
    finally:
        reader.stop()
