"""Benchmark: email in through the webhook and through IMAP, and mailbox → SMTP reply latency.

Real parts: a threaded werkzeug server with the helpdesk (SQLite file in a temp folder, the
default assistant, offline understanding, the embedded outbox thread), Debian's Dovecot as the
mailbox (tests/mailservers.py), aiosmtpd as the SMTP server.

1. **Webhook**: N distinct customer messages POSTed to ``/email/inbound`` by 4 client threads;
   messages/s until every one is stored (the response comes after the commit). Baseline in the
   same run: the same number of messages to the Rasa REST channel (``/webhooks/rest/webhook``),
   which stores and runs the turn in the request.
2. **IMAP**: N messages put into the mailbox while the poller is stopped, then one poll stores them
   all: messages/s (fetch, parse, thread, store, record the UID). Ratio against the webhook rate.
3. **Latency**: one message at a time lands in the mailbox (timed from the completed IMAP APPEND)
   while the poller waits in IDLE; time until the bot's reply reaches the SMTP server (IDLE
   wake-up, fetch, store, turn, outbox, SMTP). Baseline: the same round trip starting with the
   webhook POST instead.

    python bench/email_inbound.py [--messages 200] [--rounds 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from helpdesk.app import create_app  # noqa: E402
from helpdesk.settings import Settings  # noqa: E402
from tests.e2e.conftest import serve_app  # noqa: E402
from tests.integration.email_app import SUPPORT, TOKEN, mail  # noqa: E402
from tests.mailservers import DovecotServer, SmtpServer  # noqa: E402


def settings(folder: Path, smtp_url: str, imap_url: str | None = None) -> Settings:
    return Settings(database_url=f"sqlite:///{folder}/bench.db", instance_path=str(folder / "instance"),
                    assistant=str(REPO / "flows"), secret_key="bench", auto_migrate=True, log_level="ERROR",
                    email_address=SUPPORT, smtp_url=smtp_url, email_inbound_token=TOKEN, imap_url=imap_url,
                    imap_interval=600, imap_import_existing=True, timers_in_web=False, knowledge_reload_seconds=0,
                    outbox_interval=0.2, email_auto_reply_limit=0)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def webhook_rate(base: str, count: int, tag: str) -> float:
    bodies = [mail(f"customer{n}.{tag}@example.org", f"Hello, where is my order {n}?") for n in range(count)]
    with httpx.Client(timeout=60) as client:
        def post(raw: bytes) -> None:
            response = client.post(f"{base}/email/inbound", content=raw,
                                   headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "message/rfc822"})
            assert response.status_code == 202, response.text
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(post, bodies))
        return rate(count, time.perf_counter() - started)


def rest_rate(base: str, count: int) -> float:
    with httpx.Client(timeout=60) as client:
        def post(n: int) -> None:
            response = client.post(f"{base}/webhooks/rest/webhook",
                                   json={"sender": f"rest{n}", "message": f"Hello, where is my order {n}?"})
            assert response.status_code == 200, response.text
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(post, range(count)))
        return rate(count, time.perf_counter() - started)


def imap_rate(app, dovecot: DovecotServer, count: int) -> float:  # type: ignore[no-untyped-def]
    client = dovecot.client()
    for n in range(count):
        client.append("INBOX", mail(f"imap{n}@example.org", f"Hello, where is my order {n}?"))
    client.logout()
    poller = app.extensions["helpdesk.email"].poller
    started = time.perf_counter()
    handled = poller.poll_once()  # the background poller is stopped: one poll takes them all
    elapsed = time.perf_counter() - started
    assert handled == count, handled
    return rate(count, elapsed)


def wait_for(smtp: SmtpServer, count: int, timeout: float = 30) -> float:
    smtp.wait_for(count, timeout)
    return time.perf_counter()


def latencies(app, base: str, dovecot: DovecotServer, smtp: SmtpServer, rounds: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    poller = app.extensions["helpdesk.email"].poller
    poller.poll_once()
    poller.start(interval=600)  # waits in IDLE: only the new mail wakes it
    via_imap, via_webhook = [], []
    try:
        time.sleep(1.0)
        for n in range(rounds):
            before = len(smtp.received)
            dovecot.append(mail(f"latency{n}@example.org", "Hello, where is my order?"))
            started = time.perf_counter()  # the message is in the mailbox (APPEND completed)
            via_imap.append(wait_for(smtp, before + 1) - started)
            time.sleep(0.3)  # back in IDLE
            before = len(smtp.received)
            started = time.perf_counter()
            httpx.post(f"{base}/email/inbound", content=mail(f"hook{n}@example.org", "Hello, where is my order?"),
                       headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            via_webhook.append(wait_for(smtp, before + 1) - started)
    finally:
        poller.stop()
    return via_imap, via_webhook


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="email-bench-"))
    dovecot = DovecotServer(Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-")))  # readable by Dovecot's users
    dovecot.start()
    smtp = SmtpServer()
    smtp.start()
    app = create_app(settings(folder, smtp.url, dovecot.url))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.extensions["helpdesk.email"].poller.stop()  # started with the app; each part drives it itself
    try:
        with serve_app(app) as server:
            rest = rest_rate(server.url, args.messages)
            hook = webhook_rate(server.url, args.messages, "a")
            imap = imap_rate(app, dovecot, args.messages)
            app.extensions["helpdesk"].turns.wait_idle(120)
            smtp.wait_for(2 * args.messages, timeout=300)  # every bot reply out before timing latency
            via_imap, via_webhook = latencies(app, server.url, dovecot, smtp, args.rounds)
    finally:
        app.extensions["helpdesk"].close()
        dovecot.stop()
        smtp.stop()
    print(f"email inbound, {args.messages} messages (SQLite, offline understanding)")
    print(f"{'path':<42}{'messages/s':>12}{'ratio':>10}")
    print(f"{'REST channel (baseline: stores + turn)':<42}{rest:>12.1f}{1.0:>10.2f}")
    print(f"{'POST /email/inbound (stores, turn queued)':<42}{hook:>12.1f}{hook / rest:>10.2f}")
    print(f"{'IMAP poll (fetch + store)':<42}{imap:>12.1f}{imap / rest:>10.2f}")
    print()
    print(f"reply latency, {args.rounds} rounds: message in → bot reply at the SMTP server")
    print(f"{'path':<42}{'p50 ms':>10}{'p95 ms':>10}{'ratio p50':>11}")
    base50 = statistics.median(via_webhook) * 1000
    print(f"{'webhook POST (baseline)':<42}{base50:>10.0f}{pct(via_webhook, .95):>10.0f}{1.0:>11.2f}")
    imap50 = statistics.median(via_imap) * 1000
    print(f"{'mailbox APPEND → IMAP IDLE':<42}{imap50:>10.0f}{pct(via_imap, .95):>10.0f}{imap50 / base50:>11.2f}")


if __name__ == "__main__":
    main()
