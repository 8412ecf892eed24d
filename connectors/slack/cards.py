"""Handoff cards as outbox notices, and where each card is (so that it is updated, not posted again).

A handoff change (queued, claimed, transferred, resolved, released… of a conversation of any
channel) publishes a ``handoff`` event; just before its turn commits, :func:`card_notice` turns it
into an outbox row of the ``slack`` channel addressed to the agents' channel — in the same
transaction, so a card is never lost to a crash and never posted from a request or turn thread.
The customer's and agents' messages of a handed-off conversation are queued the same way
(:func:`queue_mirror`) and copied into the card's thread by the outbox worker. The outbox worker
delivers them (``SlackChannel.deliver_notice``): paced, 429 ``Retry-After`` and
5xx handled like every Slack message, in order per conversation.

Where a card was posted is recorded in the conversation's event log (``dialogue_events``, type
``slack_card``) once Slack took it, so that its updates edit it (``chat.update``) from any process
and after a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from helpdesk.connectors.slack.blocks import HandoffCard
from helpdesk.connectors.slack.threads import CHANNEL
from helpdesk.conversations.db import Database
from helpdesk.conversations.models import Customer, DialogueEvent

if TYPE_CHECKING:
    from helpdesk.conversations.turn import Turn

#: the outbox payload's ``notice`` of a handoff card
CARD_NOTICE = "slack_card"
#: the outbox payload's ``notice`` of a message copied into its card's thread
MIRROR_NOTICE = "slack_mirror"
#: conversation statuses whose messages are mirrored into the card's thread (handed to people)
MIRRORED = frozenset({"queued", "assigned"})
#: the event-log type recording a posted card: ``{"channel", "ts"}``
CARD_EVENT = "slack_card"
OPENING = frozenset({"queued", "assigned", "requeued", "transferred", "escalated"})
CLOSING = frozenset({"resolved", "released"})


def card_notice(data: dict[str, Any], *, dashboard_url: str | None = None) -> dict[str, Any] | None:
    """The outbox payload of a ``handoff`` bus event's card, or None when the event changes no card.

    A closing event (resolved, released) only updates a card that was posted; the worker skips it
    when there is none."""
    kind = data.get("type")
    item = data.get("item")
    if kind not in OPENING | CLOSING or not isinstance(item, dict):
        return None
    customer = item.get("customer") or {}
    assignee = (item.get("assignee") or {}).get("name")
    cid = int(item.get("conversation_id") or data["conversation_id"])
    link = f"{dashboard_url.rstrip('/')}/agent#conversation-{cid}" if dashboard_url else None
    resolved_by = None
    if kind == "resolved":
        resolved_by = assignee or "an agent"
    elif kind == "released":
        resolved_by = "the assistant (released)"
    return {"notice": CARD_NOTICE, "closing": kind in CLOSING, "conversation_id": cid,
            "customer": str(customer.get("name") or customer.get("email") or f"customer #{customer.get('id', '?')}"),
            "channel": str(item.get("channel") or ""), "summary": str(item.get("summary") or ""),
            "reason": str(item.get("reason") or ""), "link": link, "claimed_by": assignee,
            "resolved_by": resolved_by}


def queue_card(turn: Turn, event: str, data: dict[str, Any], *, agent_channel: str | None,
               dashboard_url: str | None = None) -> bool:
    """A ``Delivery`` notice keeper: queue the card of a ``handoff`` event as an outbox row of the
    turn's transaction (channel ``slack``, destination the agents' channel); whether it did."""
    payload = card_notice(data, dashboard_url=dashboard_url) if event == "handoff" and agent_channel else None
    if payload is None or not agent_channel:
        return False
    turn.enqueue_outbox(CHANNEL, agent_channel, payload)
    return True


def queue_mirror(turn: Turn, data: dict[str, Any], *, agent_channel: str | None) -> bool:
    """A ``Delivery`` notice keeper for ``message`` events: a customer's or agent's message of a
    conversation handed to people becomes an outbox row addressed to the agents' channel (after
    its card's, same queue: delivered in order, after the card); whether it queued one."""
    role = data.get("role")
    if not agent_channel or role not in ("customer", "agent") or turn.conversation.status not in MIRRORED:
        return False
    author = (data.get("author") or {}).get("name")
    if not author and role == "customer" and turn.conversation.customer_id is not None:
        customer = turn.session.get(Customer, turn.conversation.customer_id)  # the identity map, mostly
        author = customer.name or customer.email if customer else None
    author = author or ("Customer" if role == "customer" else "Agent")
    turn.enqueue_outbox(CHANNEL, agent_channel, {
        "notice": MIRROR_NOTICE, "conversation_id": int(data["conversation_id"]), "message_id": data.get("id"),
        "role": role, "author": str(author)[:80], "text": str(data.get("text") or "")})
    return True


def card_of_notice(payload: dict[str, Any]) -> tuple[HandoffCard, bool]:
    """The card a notice describes, and whether it only updates an existing card."""
    card = HandoffCard(int(payload["conversation_id"]), str(payload.get("customer") or ""),
                       str(payload.get("channel") or ""), str(payload.get("summary") or ""),
                       reason=str(payload.get("reason") or ""), link=payload.get("link"),
                       claimed_by=payload.get("claimed_by"), resolved_by=payload.get("resolved_by"))
    return card, bool(payload.get("closing"))


def record_card(db: Database, conversation_id: int, channel: str, ts: str) -> None:
    """Remember where the conversation's card is (one short transaction)."""
    with db.session() as session, session.begin():
        session.add(DialogueEvent(conversation_id=conversation_id, type=CARD_EVENT,
                                  data={"channel": channel, "ts": ts}))


def recorded_card(db: Database, conversation_id: int) -> tuple[str, str] | None:
    """(channel, ts) of the conversation's card, or None when none was posted."""
    query = (select(DialogueEvent.data).where(DialogueEvent.conversation_id == conversation_id,
                                              DialogueEvent.type == CARD_EVENT)
             .order_by(DialogueEvent.id.desc()).limit(1))
    with db.read_session() as session:
        data = session.scalars(query).first()
    if not data or not data.get("channel") or not data.get("ts"):
        return None
    return str(data["channel"]), str(data["ts"])
