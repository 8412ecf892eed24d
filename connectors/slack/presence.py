"""Agents who work from Slack count as online for assignment.

* **Coming online**: any action of a Slack user mapped to an agent (a reply or note in a card's
  thread, a Claim / Resolve click, the *Send to customer* shortcut, taking over a customer's thread)
  is a heartbeat; an agent who was offline becomes online (and is offered waiting conversations).
  An agent who chose *away* in the dashboard stays away.
* **Staying online**: every ``interval`` seconds (30) the connector asks Slack whether the agents
  it has seen in Slack are active (``users.getPresence``, scope ``users:read``); an active one
  gets a heartbeat.
* **Going offline**: an agent whose Slack shows *away* (Slack client closed or idle) gets no more
  heartbeats and goes offline by the helpdesk's usual heartbeat timeout
  (``HELPDESK_AGENT_HEARTBEAT_TIMEOUT``, 90 s), which puts their conversations back in the queue.

The agents polled are those seen by this process since it started: after a restart an agent
counts again from their next action in Slack (until then, the timeout applies).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class PresenceDesk(Protocol):
    """What presence needs of the agent inbox (``handoff.desk.ChatDesk``)."""

    def seen(self, agent: Any) -> None:
        """The agent acted: a heartbeat; offline → online."""

    def still_there(self, agent: Any) -> None:
        """A heartbeat only (presence unchanged)."""


class SlackPresence:
    """Heartbeats of the agents who work from Slack (see the module docstring).

    Args:
        client: the bot's WebClient (``users.getPresence``).
        desk: the agent inbox.
        interval: seconds between polls.
    """

    def __init__(self, client: WebClient, desk: PresenceDesk, interval: float = 30.0) -> None:
        self._client = client
        self._desk = desk
        self._interval = interval
        self._agents: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def seen(self, user_id: str, agent: Any) -> None:
        """The Slack user ``user_id`` (the agent ``agent``) did something in Slack."""
        with self._lock:
            self._agents[user_id] = agent
        try:
            self._desk.seen(agent)
        except Exception:  # noqa: BLE001 - presence must never stop the action itself
            log.exception("slack.presence.seen_failed", extra={"user": user_id})

    def poll_once(self) -> int:
        """Heartbeat every seen agent whom Slack shows active; returns how many."""
        with self._lock:
            agents = list(self._agents.items())
        active = 0
        for user_id, agent in agents:
            try:
                presence = self._client.users_getPresence(user=user_id).get("presence")
            except SlackApiError as exc:
                log.warning("slack.presence.lookup_failed", extra={"user": user_id, "error": str(exc)})
                continue
            if presence == "active":
                self._desk.still_there(agent)
                active += 1
        return active

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="slack-presence", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - the next poll tries again
                log.exception("slack.presence.poll_failed")
