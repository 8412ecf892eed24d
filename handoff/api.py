"""The agent REST API of DESIGN §4 under ``/api/v1``: bearer tokens, admin and agent roles, team
scoping. Errors are ``{"error": {"code", "message"}}`` (401 without a valid token, 403 for the
wrong role or team, 404, 409 when someone else has the conversation). The OpenAPI document is at
``GET /api/v1/openapi.json``; people, settings and stats endpoints are in :mod:`handoff.api_people`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import Select, func, or_, select

from helpdesk.conversations.models import Conversation, Message
from helpdesk.conversations.text import json_problem
from helpdesk.dialogue.view import DialogueView
from helpdesk.handoff import auth, queue, serializers
from helpdesk.handoff.errors import Forbidden, HandoffError, Invalid, NotFound, Unauthorized
from helpdesk.handoff.models import Agent, Handoff, Note
from helpdesk.handoff.service import HandoffService
from helpdesk.handoff.types import AgentRef

F = TypeVar("F", bound=Callable[..., Any])
#: an API request counts as a heartbeat at most this often (seconds)
API_HEARTBEAT = 20
LIST_STATUSES = ("queued", "assigned", "mine", "open", "bot", "resolved", "all")
PATTERN_SLOTS = {"max_clarification_options", "continue_conversation", "confirm_correction",
                 "continue_interrupted_flow_confirmation", "interrupted_flow_to_continue"}


def service() -> HandoffService:
    handoff: HandoffService = current_app.extensions["helpdesk"].handoff
    return handoff


def body() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested thousands deep: json refuses it this way, not with a ValueError
        raise Invalid("the body is nested too deeply", code="invalid_json") from None
    if data is None and request.content_length:
        raise Invalid("the body must be valid JSON", code="invalid_json")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object", code="invalid_json")
    problem = json_problem(data)
    if problem:
        raise Invalid(f"the body {problem}", code="invalid_text")
    return data


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_agent() -> AgentRef:
    agent: AgentRef = g.agent
    return agent


def agent_required(view: F) -> F:
    """401 unless the request carries a valid agent token; the agent is in ``g.agent``."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        handoff = service()
        with handoff.db.read_session() as session:
            agent = auth.authenticate(session, bearer(), handoff.now())
        if agent is None:
            raise Unauthorized("a valid agent token is required (Authorization: Bearer <token>)",
                               code="unauthorized")
        if agent.last_seen_at is None or (handoff.now() - agent.last_seen_at).total_seconds() > API_HEARTBEAT:
            handoff.presence.heartbeat(agent.id)  # API clients without a socket stay present too
        g.agent = agent
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def admin_required(view: F) -> F:
    """401 without a token, 403 for agents that are not admins."""
    @agent_required
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_agent().is_admin:
            raise Forbidden("only admins may do this", code="admin_required")
        return view(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def _error(exc: HandoffError) -> tuple[Response, int]:
    response = jsonify({"error": {"code": exc.code, "message": exc.message}})
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="helpdesk"'
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response, exc.status


def blueprint() -> Blueprint:
    from helpdesk.handoff import api_people
    from helpdesk.handoff.openapi import document

    bp = Blueprint("handoff_api", __name__, url_prefix="/api/v1")
    bp.register_error_handler(HandoffError, _error)
    bp.add_url_rule("/openapi.json", "openapi", lambda: jsonify(document()))
    bp.add_url_rule("/queue", "queue", get_queue)
    bp.add_url_rule("/conversations", "conversations", list_conversations)
    bp.add_url_rule("/conversations/<int:cid>", "conversation", get_conversation)
    for name, view in (("claim", claim), ("messages", post_message), ("notes", post_note),
                       ("transfer", transfer), ("release", release), ("resolve", resolve), ("typing", typing)):
        bp.add_url_rule(f"/conversations/<int:cid>/{name}", name, view, methods=["POST"])
    api_people.register(bp)
    return bp


# --- queue and conversations ----------------------------------------------------------------
@agent_required
def get_queue() -> Response:
    """Queued conversations the agent may see, in queue order."""
    me, handoff = current_agent(), service()
    with handoff.db.read_session() as session:
        items = []
        for row in queue.queued(session):
            if me.may_see(row.team_id):
                conversation = session.get(Conversation, row.conversation_id)
                assert conversation is not None
                items.append(serializers.item_json(session, conversation, row, handoff.now(),
                                             handoff.settings.handoff_wait_samples))
    return jsonify({"items": items})


@agent_required
def list_conversations() -> Response:
    """``?status=queued|assigned|mine|open|bot|resolved|all`` (default open), newest activity first."""
    status = request.args.get("status", "open")
    if status not in LIST_STATUSES:
        raise Invalid(f"'status' must be one of {', '.join(LIST_STATUSES)}", code="invalid_status")
    limit = request.args.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 500:
        raise Invalid("'limit' must be a number from 1 to 500", code="invalid_limit")
    me, handoff = current_agent(), service()
    with handoff.db.read_session() as session:
        rows = session.execute(_listing(status, me).limit(int(limit))).all()
        items = [serializers.item_json(session, c, h if h and h.status != "closed" else None, handoff.now())
                 | ({"last_handoff": serializers.handoff_json(session, h)} if h and h.status == "closed" else {})
                 for c, h in rows]
    return jsonify({"items": items})


def _listing(status: str, me: AgentRef) -> Select[Conversation, Handoff]:
    latest = (select(Handoff.conversation_id, func.max(Handoff.id).label("hid"))
              .group_by(Handoff.conversation_id).subquery())
    query = (select(Conversation, Handoff).outerjoin(latest, latest.c.conversation_id == Conversation.id)
             .outerjoin(Handoff, Handoff.id == latest.c.hid))
    statuses = {"queued": ["queued"], "assigned": ["assigned"], "mine": ["assigned"], "open": ["queued", "assigned"],
                "bot": ["bot"], "resolved": ["resolved"]}.get(status)
    if statuses:
        query = query.where(Conversation.status.in_(statuses))
    if status == "mine":
        query = query.where(Handoff.assignee_id == me.id)
    if not me.is_admin:
        query = query.where(or_(Handoff.id.is_(None), Handoff.team_id.is_(None),
                                Handoff.team_id.in_(sorted(me.team_ids) or [-1]), Handoff.assignee_id == me.id))
    if status == "queued":
        return query.order_by(*queue.order_by())
    return query.order_by(Conversation.updated_at.desc(), Conversation.id.desc())


@agent_required
def get_conversation(cid: int) -> Response:
    """One conversation: the inbox row plus slots, flows, notes and every message."""
    me, handoff = current_agent(), service()
    with handoff.db.read_session() as session:
        conversation = session.get(Conversation, cid)
        if conversation is None:
            raise NotFound(f"no conversation {cid}", code="conversation_not_found")
        row = queue.open_handoff(session, cid)
        last = row or queue.latest_handoff(session, cid)
        if not me.may_see(last.team_id if last else None, row.assignee_id if row else None):
            raise Forbidden("this conversation belongs to a team you are not in", code="wrong_team")
        out = serializers.item_json(session, conversation, row, handoff.now())
        out["summary"] = serializers.summary_text(session, last.id if last else None)
        out.update(_details(session, conversation))
    return jsonify(out)


def _details(session: Any, conversation: Conversation) -> dict[str, Any]:
    view = DialogueView.of(conversation.state)
    messages = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                               .order_by(Message.seq)).all()
    notes = session.execute(select(Note, Agent.name).outerjoin(Agent, Agent.id == Note.author_id)
                            .where(Note.conversation_id == conversation.id).order_by(Note.id)).all()
    return {"slots": view.filled_slots(exclude=PATTERN_SLOTS), "flows": list(view.stack_flows),
            "messages": [_message(m) for m in messages], "notes": [serializers.note_json(n, a) for n, a in notes],
            "customer_profile": _profile(messages)}


def _profile(messages: Any) -> dict[str, Any] | None:
    """What the channel told about the customer with their latest message (``metadata.profile``:
    Slack's real name and picture); a picture only as an https URL (the connector checked its host)."""
    for message in reversed(messages):
        metadata = (message.payload or {}).get("metadata") if message.role == "customer" else None
        profile = metadata.get("profile") if isinstance(metadata, dict) else None
        if isinstance(profile, dict):
            avatar = profile.get("avatar")
            real_name = profile.get("real_name")
            return {"real_name": real_name if isinstance(real_name, str) else None,
                    "avatar": avatar if isinstance(avatar, str) and avatar.startswith("https://") else None}
    return None


def _message(message: Message) -> dict[str, Any]:
    payload = message.payload or {}
    attachments = [{k: a.get(k) for k in ("id", "name", "content_type", "size")}
                   for a in payload.get("attachments") or [] if isinstance(a, dict)]
    out = {"id": message.id, "seq": message.seq, "role": message.role, "text": message.text,
           "buttons": payload.get("buttons") or [], "attachments": attachments,
           "author": {"name": message.author} if message.author else None,
           "created_at": serializers.iso(message.created_at)}
    email = payload.get("email")
    if isinstance(email, dict):  # a message that came by email: subject, sender, the quoted history
        out["email"] = {k: email.get(k) for k in ("subject", "from", "to", "cc", "date", "quoted", "full_text",
                                                   "skipped_attachments", "no_reply")}
    return out


# --- actions ------------------------------------------------------------------------------------
@agent_required
def claim(cid: int) -> Response:
    """Claim a queued conversation, or take over one the bot is handling; 409 if someone has it."""
    return jsonify(service().actions.claim(current_agent(), cid))


@agent_required
def post_message(cid: int) -> tuple[Response, int]:
    """``{text, internal?}``: a reply to the customer, or (``internal``) a note for agents only."""
    data = body()
    actions = service().actions
    if data.get("internal") is True:
        return jsonify(actions.note(current_agent(), cid, data.get("text"))), 201
    return jsonify(actions.reply(current_agent(), cid, data.get("text"))), 201


@agent_required
def post_note(cid: int) -> tuple[Response, int]:
    return jsonify(service().actions.note(current_agent(), cid, body().get("text"))), 201


@agent_required
def transfer(cid: int) -> Response:
    """``{agent_id}`` or ``{team}`` (a name or id)."""
    data = body()
    return jsonify(service().actions.transfer(current_agent(), cid, agent_id=data.get("agent_id"),
                                              team=data.get("team")))


@agent_required
def release(cid: int) -> Response:
    """Back to the assistant, which resumes (``{flow?}``: the flow it starts with; "" for none)."""
    return jsonify(service().actions.release(current_agent(), cid, body().get("flow")))


@agent_required
def resolve(cid: int) -> Response:
    return jsonify(service().actions.resolve(current_agent(), cid))


@agent_required
def typing(cid: int) -> tuple[str, int]:
    service().actions.typing(current_agent(), cid, bool(body().get("typing", True)))
    return "", 204
