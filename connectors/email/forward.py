"""Email for conversations of other channels: the off-hours promise and transcripts.

Runs just before a turn of a non-email conversation commits (a ``Delivery`` forwarder) and may
add outbox rows of the email channel in that same transaction:

* when the handoff's off-hours prompt collected the customer's address (a message whose payload
  has ``email_follow_up``), the conversation is continued by email from then on: every agent
  message also goes to that address, threaded, with a reply token that brings the customer's
  answer back into this conversation;
* a bot reply to a message that came in by email goes back by email;
* the assistant's transcript confirmation (response ``utter_email_transcript_sent``) sends the
  conversation's transcript to the address in the ``transcript_email`` slot.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from helpdesk.connectors.email.channel import CHANNEL, TRANSCRIPT
from helpdesk.connectors.email.models import EmailFollowUp
from helpdesk.conversations.models import Message
from helpdesk.conversations.outbound import OutboundMessage

if TYPE_CHECKING:
    from helpdesk.conversations.turn import Turn

#: the payload key the handoff puts on its "we'll reply to you by email" confirmation
FOLLOW_UP_KEY = "email_follow_up"
TRANSCRIPT_RESPONSE = "utter_email_transcript_sent"
TRANSCRIPT_SLOT = "transcript_email"
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def forward_by_email(turn: Turn, messages: Sequence[Message]) -> bool:
    """Queue email deliveries for a non-email conversation's new messages; ``True`` when it queued any."""
    conversation = turn.conversation
    if conversation.channel == CHANNEL:
        return False  # the email channel's own conversations go through the outbox anyway
    session = turn.session
    for message in messages:
        address = (message.payload or {}).get(FOLLOW_UP_KEY)
        if isinstance(address, str) and _ADDRESS.match(address):
            row = session.get(EmailFollowUp, conversation.id)
            if row is None:
                session.add(EmailFollowUp(conversation_id=conversation.id, address=address.lower()))
            else:
                row.address = address.lower()
            session.flush()
    # one query each, and only when they can matter (this runs for every turn of every chat)
    follow_up = any(m.role == "agent" for m in messages) and session.get(EmailFollowUp, conversation.id) is not None
    by_email = _came_by_email(turn, {m.in_reply_to for m in messages if m.in_reply_to and m.role == "bot"})
    queued = False
    for message in sorted(messages, key=lambda m: m.seq):
        custom = _transcript(turn, message)
        wanted = (message.role == "agent" and follow_up) or (message.role == "bot" and message.in_reply_to in by_email)
        if not wanted and custom is None:
            continue
        out = OutboundMessage.from_row(conversation, message, by_email.get(message.in_reply_to or 0))
        if custom is not None:
            out = dataclasses.replace(out, custom=custom)
        turn.enqueue_outbox(CHANNEL, conversation.thread_key, out.to_json(), message.id)
        queued = True
    return queued


def _came_by_email(turn: Turn, ids: set[int]) -> dict[int, str]:
    """The ids (and Message-IDs) of those customer messages that came in by email."""
    if not ids:
        return {}
    rows = turn.session.execute(select(Message.id, Message.payload, Message.external_id)
                                .where(Message.id.in_(ids))).all()
    return {row.id: row.external_id for row in rows
            if isinstance(row.payload, dict) and isinstance(row.payload.get("email"), dict)}


def _transcript(turn: Turn, message: Message) -> dict[str, Any] | None:
    if message.role != "bot" or (message.payload or {}).get("utter_action") != TRANSCRIPT_RESPONSE:
        return None
    slots = (turn.conversation.state or {}).get("slots") or {}
    address = slots.get(TRANSCRIPT_SLOT)
    if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
        return None
    return {TRANSCRIPT: address.strip().lower()}
