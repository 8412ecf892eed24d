"""Keeping the agents' channel up to date from the helpdesk's bus events (any channel's handoffs).

* ``handoff`` events post a card (customer, channel, summary, Claim / Resolve) in
  ``HELPDESK_SLACK_AGENT_CHANNEL`` when a conversation goes to people, and update it when it is
  claimed, transferred, resolved or released;
* ``message`` events of a conversation that has a card are mirrored into the card's thread —
  the customer's messages under their name and avatar, agents' replies under the agent's name —
  so an agent working from Slack sees the whole exchange.

Bus events come after the commit; the work (Slack calls) runs on the connector's background
executor, never in the publisher's thread. Cards are notifications: the dashboard stays the
record, so a card lost to a crash loses no customer message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from connectors.slack.agents import AgentSide
from connectors.slack.blocks import HandoffCard
from connectors.slack.mrkdwn import escape
from connectors.slack.people import Directory
from connectors.slack.sender import SlackDeliveryError, SlackPost

log = logging.getLogger(__name__)
OPENING = {"queued", "assigned", "requeued", "transferred", "escalated"}
CLOSING = {"resolved", "released"}


class Relay:
    """Subscribed to the bus (``relay.on_bus_event``)."""

    def __init__(self, agents: AgentSide, directory: Directory, background: Callable[[Callable[[], object]], object],
                 *, dashboard_url: str | None = None) -> None:
        self._agents = agents
        self._directory = directory
        self._background = background
        self._dashboard_url = dashboard_url.rstrip("/") if dashboard_url else None

    def on_bus_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "handoff" and data.get("type") in OPENING | CLOSING and data.get("item"):
            self._background(lambda: self.card(data))
        elif event == "message" and data.get("role") in ("customer", "agent") and data.get("conversation_id") \
                and self._agents.cards.card_of(int(data["conversation_id"])) is not None:
            self._background(lambda: self.mirror(data))

    def card(self, data: dict[str, Any]) -> None:
        """Post or update the card of the conversation in the event."""
        item = data["item"]
        closing = data.get("type") in CLOSING
        known = self._agents.cards.card_of(int(data["conversation_id"]))
        if closing and known is None:
            return
        customer = item.get("customer") or {}
        assignee = (item.get("assignee") or {}).get("name")
        link = f"{self._dashboard_url}/agent#conversation-{item['conversation_id']}" if self._dashboard_url else None
        card = HandoffCard(int(item["conversation_id"]), str(customer.get("name") or customer.get("email") or
                                                             f"customer #{customer.get('id', '?')}"),
                           str(item.get("channel") or ""), str(item.get("summary") or ""),
                           reason=str(item.get("reason") or ""), link=link, claimed_by=assignee,
                           resolved_by=(assignee or "an agent") if data.get("type") == "resolved" else None)
        if data.get("type") == "released":
            card = HandoffCard(card.conversation_id, card.customer, card.channel, card.summary, card.reason,
                               card.link, claimed_by=card.claimed_by, resolved_by="the assistant (released)")
        try:
            self._agents.post_card(card)
        except SlackDeliveryError as exc:
            log.warning("slack.card.failed", extra={"conversation_id": card.conversation_id, "error": str(exc)})

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
