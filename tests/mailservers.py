"""Real mail servers for the email tests: an SMTP server (aiosmtpd) and an IMAP server (Dovecot).

``SmtpServer`` collects what it receives and can be stopped and started again on the same port
(the "SMTP server down" tests). ``DovecotServer`` runs Debian's Dovecot as an unprivileged-port
instance with its own configuration in a temporary folder, plain login on loopback; tests put mail
into it with a real IMAP APPEND. Without Dovecot (``make mail-servers`` installs it) the fixture
skips with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVECOT_USER, DOVECOT_PASSWORD = "support", "s3cret-imap"
SMTP_USER, SMTP_PASSWORD = "helpdesk", "s3cret-smtp"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server got it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Collect:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.server.reject_with:
            return self.server.reject_with
        self.server.add(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a loopback port; ``tls``: ``None``, ``"starttls"`` or ``"ssl"`` (with a trustme CA)."""

    def __init__(self, *, tls: str | None = None, auth: bool = False, ca: Any = None) -> None:
        self.port = free_port()
        self.tls, self.auth, self.ca = tls, auth, ca
        self.received: list[Received] = []
        self.reject_with: str | None = None
        self._lock = threading.Condition()
        self._controller: Any = None

    @property
    def url(self) -> str:
        scheme = {None: "smtp", "starttls": "smtp+starttls", "ssl": "smtps"}[self.tls]
        credentials = f"{SMTP_USER}:{SMTP_PASSWORD}@" if self.auth else ""
        query = f"?cafile={self.ca_file}" if self.tls else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}{query}"

    @property
    def ca_file(self) -> str:
        return str(self._ca_path)

    def add(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Block until ``count`` messages arrived; fail the test otherwise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"SMTP server got {len(self.received)} messages, expected {count}")
                self._lock.wait(left)
            return list(self.received)

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login == SMTP_USER.encode() \
                and data.password == SMTP_PASSWORD.encode()
            return AuthResult(success=True) if ok else AuthResult(success=False, handled=False)  # → 535

        kwargs: dict[str, Any] = {}
        if self.auth:
            # implicit TLS is invisible to aiosmtpd: there AUTH is offered without requiring it up
            # front (requiring AUTH without TLS makes aiosmtpd warn on every connection)
            starttls = self.tls == "starttls"
            kwargs.update(authenticator=authenticator, auth_required=starttls, auth_require_tls=starttls)
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            self._ca_path = Path(tempfile.mkdtemp()) / "ca.pem"
            self.ca.cert_pem.write_to_path(str(self._ca_path))
            if self.tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS: wanted here
            self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port,
                                          ready_timeout=10, **kwargs)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server that keeps every message it receives."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class DovecotServer:
    """A Dovecot IMAP instance of its own (config, maildirs, logs under a temporary folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"imap://{DOVECOT_USER}:{DOVECOT_PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def start(self) -> None:
        (self.root / "run").mkdir(parents=True)
        (self.root / "state").mkdir()
        (self.root / "home").mkdir()
        (self.root / "passwd").write_text(f"{DOVECOT_USER}:{{PLAIN}}{DOVECOT_PASSWORD}\n")
        internal, login, mail = self._users()
        os.chmod(self.root, 0o755)
        shutil.chown(self.root / "home", mail.pw_uid, mail.pw_gid)
        (self.root / "dovecot.conf").write_text(_CONFIG.format(
            root=self.root, port=self.port, internal=internal.pw_name, internal_group=_group(internal),
            login=login.pw_name, uid=mail.pw_uid, gid=mail.pw_gid))
        log = (self.root / "stdout.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - fixed command line
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self._wait_ready()

    def _users(self) -> tuple[pwd.struct_passwd, pwd.struct_passwd, pwd.struct_passwd]:
        if os.geteuid() != 0:  # unprivileged: everything runs as us
            me = pwd.getpwuid(os.geteuid())
            return me, me, me
        # as root, Dovecot drops to its own users (Debian's package creates them)
        return pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull"), pwd.getpwnam("dovecot")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"dovecot exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"dovecot did not start: {self.log()}")

    def log(self) -> str:
        parts = [p.read_text(errors="replace")[-3000:] for p in (self.root / "stdout.log", self.root / "dovecot.log")
                 if p.exists()]
        return "\n".join(parts)

    def client(self) -> Any:
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(DOVECOT_USER, DOVECOT_PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message into the mailbox (IMAP APPEND)."""
        client = self.client()
        try:
            client.append(folder, raw)
        finally:
            client.logout()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _group(user: pwd.struct_passwd) -> str:
    import grp

    return grp.getgrgid(user.pw_gid).gr_name


_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A running Dovecot IMAP server with one user and an empty INBOX (skips without Dovecot)."""
    if not Path(DOVECOT).exists():
        pytest.skip("Dovecot is not installed (make mail-servers installs Debian's dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-"))
    server = DovecotServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
