"""Lets agents download customers' attachments (the widget's ``authorize_agent`` hook)."""

from __future__ import annotations

from typing import Any

from flask import Request, current_app

from helpdesk.handoff import auth, queue


def agent_may_see_attachment(request: Request, attachment: Any) -> bool:
    """True for a valid agent token whose agent may see the attachment's conversation."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    conversation_id = getattr(attachment, "conversation_id", None)
    if scheme.lower() != "bearer" or not token or conversation_id is None:
        return False
    service = current_app.extensions["helpdesk"].handoff
    with service.db.read_session() as session:
        agent = auth.authenticate(session, token.strip(), service.now())
        if agent is None:
            return False
        handoff = queue.open_handoff(session, conversation_id) or queue.latest_handoff(session, conversation_id)
    if handoff is None:
        return agent.may_see(None)
    return agent.may_see(handoff.team_id, handoff.assignee_id if handoff.status != "closed" else None)
