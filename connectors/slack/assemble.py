"""Building the Slack connector's parts from settings (one place, no I/O until first used)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from helpdesk.connectors.slack.agents import AgentDesk, AgentSide, CardIndex
from helpdesk.connectors.slack.channel import SlackChannel
from helpdesk.connectors.slack.dispatch import Dispatcher
from helpdesk.connectors.slack.events import Identity
from helpdesk.connectors.slack.files import SlackFiles
from helpdesk.connectors.slack.inbound import CustomerSide, Receive, Scope
from helpdesk.connectors.slack.people import Directory, RoleRules, parse_channels
from helpdesk.connectors.slack.presence import SlackPresence
from helpdesk.connectors.slack.sender import Pacer, SlackSender, build_client
from helpdesk.connectors.slack.threads import Grouping, thread_of_message
from helpdesk.connectors.slack.verify import RequestVerifier
from helpdesk.conversations.db import Database
from helpdesk.settings import Settings

log = logging.getLogger(__name__)


class Me:
    """Who the app is (``auth.test``, asked once; after a failure, again at most every 30 s)."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._identity: Identity | None = None
        self._failed_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> Identity | None:
        if self._identity is not None or time.monotonic() - self._failed_at < 30:
            return self._identity
        with self._lock:
            if self._identity is None:
                try:
                    auth = self._client.auth_test()
                    self._identity = Identity(str(auth["team_id"]), str(auth["user_id"]), auth.get("bot_id"),
                                              auth.get("app_id"))
                except SlackApiError as exc:
                    self._failed_at = time.monotonic()
                    log.warning("slack.auth_test.failed", extra={"error": str(exc)})
        return self._identity

    @property
    def team_id(self) -> str:
        identity = self()
        return identity.team_id if identity else ""


@dataclass
class SlackParts:
    """Everything the Slack connector is made of."""

    client: WebClient
    sender: SlackSender
    directory: Directory
    me: Me
    customers: CustomerSide
    agents: AgentSide | None
    dispatcher: Dispatcher
    verifier: RequestVerifier | None
    channel: SlackChannel
    files: SlackFiles
    executor: ThreadPoolExecutor
    presence: SlackPresence | None = None

    def close(self) -> None:
        if self.presence is not None:
            self.presence.stop()
        self.executor.shutdown(wait=True)


def assemble(settings: Settings, db: Database, receive: Receive, desk: AgentDesk | None = None, *,
             now: Callable[[], float] = time.time) -> SlackParts:
    """The connector's parts; ``receive`` is the one way in, ``desk`` the agent inbox (None: no agents' side)."""
    token = settings.slack_bot_token or ""
    client = build_client(token, settings.slack_api_url, max_inline_wait=settings.slack_max_inline_wait)
    # lookups inside a request must not sleep through a long 429: no retries, a short timeout
    lookups = WebClient(token=token, base_url=client.base_url, timeout=3)
    sender = SlackSender(client, Pacer(settings.slack_pace_seconds))
    directory = Directory(lookups, ttl=settings.slack_cache_seconds)
    me = Me(lookups)
    modes = parse_channels(settings.slack_support_channels)
    rules = RoleRules(lambda: me.team_id, modes, settings.slack_agent_channel, directory)
    scope = Scope(frozenset(modes), settings.slack_agent_channel)
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack")
    files = SlackFiles(db, token, settings.max_attachment_bytes)
    customers = CustomerSide(receive, scope, rules, directory, Grouping(db, settings.slack_group_window),
                             bot_user=lambda: (me() or Identity("", "")).user_id or None)
    agents = presence = None
    if desk is not None:
        presence = SlackPresence(lookups, desk)
        agents = AgentSide(desk, directory, sender, CardIndex(lookups, db), settings.slack_agent_channel,
                           settings.slack_reply_prefix, settings.slack_ticket_emoji,
                           notify=lambda channel, user, text: _ephemeral(lookups, channel, user, text),
                           on_seen=presence.seen)
        customers.on_staff_reply = agents.staff_reply
    dispatcher = Dispatcher(customers, agents, lookups, me, lambda key: thread_of_message(db, key),
                            settings.slack_ticket_emoji, background=_submitter(executor))
    verifier = RequestVerifier(settings.slack_signing_secret, now) if settings.slack_signing_secret else None
    agent_channel = settings.slack_agent_channel
    icon = (lambda name: _avatar(directory, agent_channel, name)) if agent_channel else None
    return SlackParts(client, sender, directory, me, customers, agents, dispatcher, verifier,
                      SlackChannel(sender, agent_icon=icon, post_card=agents.post_card if agents else None,
                                   mirror=agents.mirror if agents else None),
                      files, executor, presence)


def _avatar(directory: Directory, channel: str, name: str) -> str | None:
    member = directory.member_named(channel, name)
    return member.image if member else None


def _submitter(executor: ThreadPoolExecutor) -> Callable[[Callable[[], object]], object]:
    def submit(job: Callable[[], object]) -> object:
        def run() -> None:
            try:
                job()
            except Exception:  # noqa: BLE001 - a background job must not die silently
                log.exception("slack.background.failed")
        try:
            return executor.submit(run)
        except RuntimeError:  # shutting down: nothing new starts (bus events during close)
            log.info("slack.background.dropped")
            return None
    return submit


def _ephemeral(client: WebClient, channel: str, user: str, text: str) -> None:
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as exc:
        log.warning("slack.ephemeral.failed", extra={"error": str(exc)})
