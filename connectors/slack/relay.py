"""Mirroring a handed-off conversation into its card's thread in the agents' channel.

``message`` events of a conversation that has a handoff card (customer's messages under their
name, agents' replies under the agent's name) are copied into the card's thread, so an agent
working from Slack sees the whole exchange. The cards themselves are outbox rows
(``connectors.slack.cards``); the mirror is a notification: bus events come after the commit, the
copy runs on the connector's background executor, and the dashboard and the customer's channel
stay the record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from helpdesk.connectors.slack.agents import AgentSide
from helpdesk.connectors.slack.mrkdwn import escape
from helpdesk.connectors.slack.sender import SlackDeliveryError, SlackPost

log = logging.getLogger(__name__)


class Relay:
    """Subscribed to the bus (``relay.on_bus_event``)."""

    def __init__(self, agents: AgentSide, background: Callable[[Callable[[], object]], object]) -> None:
        self._agents = agents
        self._background = background

    def on_bus_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "message" and data.get("role") in ("customer", "agent") and data.get("conversation_id"):
            self._background(lambda: self.mirror(data))  # the card lookup may read the database

    def mirror(self, data: dict[str, Any]) -> None:
        """Copy one message into its card's thread."""
        known = self._agents.cards.card_of(int(data["conversation_id"]))
        if known is None:
            return
        author = (data.get("author") or {}).get("name") or ("Customer" if data["role"] == "customer" else "Agent")
        text = escape(str(data.get("text") or "")) or "(attachment)"
        # an agent's reply is shown as sent (also when it was typed here with the reply prefix)
        prefix = "" if data["role"] == "customer" else ":outbox_tray: "
        try:
            self._agents.sender.send(SlackPost(known.channel, prefix + text, thread_ts=known.ts,
                                               username=str(author)[:80]))
        except SlackDeliveryError as exc:
            log.warning("slack.mirror.failed", extra={"conversation_id": known.conversation_id, "error": str(exc)})
