"""The transcript of a conversation as plain text (sent by email when the customer asks)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.conversations.models import Message

_WHO = {"customer": "You", "bot": "Assistant", "system": "Support"}


def transcript_text(session: Session, conversation_id: int, team: str) -> str:
    """Every customer, bot and agent message of a conversation, oldest first, with times (UTC)."""
    rows = session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                           .order_by(Message.seq)).all()
    lines = [f"Your conversation with {team}", ""]
    for message in rows:
        if not (message.text or "").strip():
            continue
        who = message.author if message.role == "agent" and message.author else _WHO.get(message.role, "Agent")
        when = message.created_at.strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"[{when}] {who}:")
        lines.extend(f"  {line}" for line in (message.text or "").strip().splitlines())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
