"""JSON shapes of the agent side (API answers, socket events, bus events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.conversations.models import Conversation, Customer, Message
from helpdesk.conversations.outbound import message_event
from helpdesk.conversations.text import strip_bidi
from helpdesk.handoff import queue
from helpdesk.handoff.models import PRIORITIES, Agent, Handoff, Note, Team


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def message_json(conversation: Conversation, message: Message) -> dict[str, Any]:
    """A message as the bus publishes it (``conversations.outbound.message_event``)."""
    return dict(message_event(conversation, message))


def note_json(note: Note, author: str | None = None) -> dict[str, Any]:
    return {"id": note.id, "conversation_id": note.conversation_id, "kind": note.kind, "text": note.text,
            "source": note.source, "author": {"name": author} if author else None,
            "created_at": iso(note.created_at)}


def agent_json(agent: Agent, teams: list[str] | None = None, load: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": agent.id, "email": agent.email, "name": agent.name, "role": agent.role,
                           "capacity": agent.capacity, "status": agent.presence, "active": agent.active,
                           "last_seen_at": iso(agent.last_seen_at)}
    if teams is not None:
        out["teams"] = teams
    if load is not None:
        out["load"] = load
    return out


def summary_text(session: Session, handoff_id: int | None) -> str | None:
    if handoff_id is None:
        return None
    query = (select(Note.text).where(Note.handoff_id == handoff_id, Note.kind == "summary")
             .order_by(Note.id.desc()).limit(1))
    summary = session.scalar(query)
    return strip_bidi(summary) if summary else summary


def team_name(session: Session, team_id: int | None) -> str | None:
    return None if team_id is None else session.scalar(select(Team.name).where(Team.id == team_id))


def item_json(session: Session, conversation: Conversation, handoff: Handoff | None,
              now: datetime, samples: int = 20, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """One inbox row: the queue item of DESIGN §4 plus assignee, customer and last message.

    ``known``: fields the caller already has (position, estimated_wait, summary), not queried again."""
    item: dict[str, Any] = {
        "conversation_id": conversation.id, "channel": conversation.channel, "status": conversation.status,
        "thread_key": conversation.thread_key, "updated_at": iso(conversation.updated_at),
        "last_seq": conversation.last_seq,
        "waiting_since": None, "priority": None, "team": None, "position": None, "summary": None,
        "assignee": None, "reason": None, "escalated": False, "offline": False, "estimated_wait": None,
        "customer": _customer(session, conversation.customer_id)}
    known = known or {}
    item["last_message"] = known["last_message"] if "last_message" in known else _last(session, conversation.id)
    if handoff is not None:
        item.update(handoff_json(session, handoff, known.get("summary")))
        if handoff.status == "queued" and "position" in known:
            item["position"], item["estimated_wait"] = known["position"], known.get("estimated_wait")
        elif handoff.status == "queued":
            item["position"] = queue.position(session, handoff)
            item["estimated_wait"] = queue.estimate(session, handoff, item["position"], now, samples)
    return item


def handoff_json(session: Session, handoff: Handoff, summary: str | None = None) -> dict[str, Any]:
    assignee = session.get(Agent, handoff.assignee_id) if handoff.assignee_id else None
    return {"handoff_id": handoff.id, "waiting_since": iso(handoff.requested_at),
            "priority": PRIORITIES[max(0, min(handoff.priority, len(PRIORITIES) - 1))],
            "team": team_name(session, handoff.team_id), "team_id": handoff.team_id,
            "summary": summary if summary is not None else summary_text(session, handoff.id),
            "reason": handoff.reason,
            "assignee": {"id": assignee.id, "name": assignee.name} if assignee else None,
            "escalated": handoff.escalated_at is not None, "offline": handoff.offline,
            "assigned_at": iso(handoff.assigned_at), "closed_at": iso(handoff.closed_at),
            "close_reason": handoff.close_reason}


def _customer(session: Session, customer_id: int | None) -> dict[str, Any] | None:
    customer = session.get(Customer, customer_id) if customer_id else None
    if customer is None:
        return None
    return {"id": customer.id, "name": _plain(customer.name), "email": _plain(customer.email),
            "external_id": customer.external_id, "channel": customer.channel}


def _last(session: Session, conversation_id: int) -> dict[str, Any] | None:
    query = (select(Message).where(Message.conversation_id == conversation_id)
             .order_by(Message.seq.desc()).limit(1))
    message = session.scalars(query).first()
    if message is None:
        return None
    return {"role": message.role, "text": _plain(message.text), "created_at": iso(message.created_at)}


def _plain(text: str | None) -> str | None:
    """Inbox rows show customer text without bidirectional controls (they could reorder the row)."""
    return strip_bidi(text) if text else text
