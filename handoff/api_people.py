"""Agent API: login, agents and presence, teams, canned responses, business hours, stats."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk.handoff import auth, queue, reporting, serializers
from helpdesk.handoff.api import admin_required, agent_required, bearer, body, current_agent, service
from helpdesk.handoff.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from helpdesk.handoff.hours import validate
from helpdesk.handoff.models import Agent, BusinessHours, CannedResponse, Team
from helpdesk.handoff.throttle import LoginThrottler


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/auth/login", "login", login, methods=["POST"])
    bp.add_url_rule("/auth/logout", "logout", logout, methods=["POST"])
    bp.add_url_rule("/agents", "agents", list_agents)
    bp.add_url_rule("/agents", "create_agent", create_agent, methods=["POST"])
    bp.add_url_rule("/agents/me", "me", me)
    bp.add_url_rule("/agents/me", "update_me", update_me, methods=["PATCH"])
    bp.add_url_rule("/agents/<int:agent_id>", "update_agent", update_agent, methods=["PATCH"])
    bp.add_url_rule("/teams", "teams", list_teams)
    bp.add_url_rule("/teams", "create_team", create_team, methods=["POST"])
    bp.add_url_rule("/canned-responses", "canned", list_canned)
    bp.add_url_rule("/canned-responses", "create_canned", create_canned, methods=["POST"])
    bp.add_url_rule("/canned-responses/<int:canned_id>", "delete_canned", delete_canned, methods=["DELETE"])
    bp.add_url_rule("/business-hours", "hours", get_hours)
    bp.add_url_rule("/business-hours", "set_hours", set_hours, methods=["PUT"])
    bp.add_url_rule("/business-hours", "delete_hours", delete_hours, methods=["DELETE"])
    bp.add_url_rule("/stats", "stats", get_stats)


def _agent_out(session: Any, agent: Agent) -> dict[str, Any]:
    return serializers.agent_json(agent, auth.team_names(session, agent.id), queue.loads(session, [agent.id])[agent.id])


# --- auth -------------------------------------------------------------------------------------
def login() -> Response:
    """``{email, password}`` → ``{token, agent}``."""
    data, handoff = body(), service()
    throttler = LoginThrottler(handoff.db, handoff.settings.login_max_failures, handoff.settings.login_max_delay)
    keys = throttler.keys(data.get("email"), request.remote_addr)
    throttler.check(keys, handoff.now())
    try:
        with handoff.db.session() as session, session.begin():
            token, agent = auth.login(session, data.get("email"), data.get("password"), handoff.now(),
                                      handoff.settings.agent_token_ttl)
            out = {"token": token, "agent": _agent_out(session, agent)}
    except Unauthorized:
        throttler.failed(keys, handoff.now())
        raise
    throttler.succeeded(agent.email)
    return jsonify(out)


@agent_required
def logout() -> tuple[str, int]:
    with service().db.session() as session, session.begin():
        auth.logout(session, bearer() or "")
    return "", 204


# --- agents -----------------------------------------------------------------------------------
@agent_required
def me() -> Response:
    return _me()


def _me() -> Response:
    with service().db.read_session() as session:
        agent = session.get(Agent, current_agent().id)
        assert agent is not None
        return jsonify(_agent_out(session, agent))


@agent_required
def update_me() -> Response:
    """``{status?: online|away|offline, name?, password?, current_password?}``.

    A new ``password`` needs the ``current_password``; it signs the agent out everywhere else
    (every other token is revoked, their ``/agent`` sockets are closed).
    """
    data, handoff, ref = body(), service(), current_agent()
    unknown = set(data) - {"status", "name", "password", "current_password"}
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))} here", code="invalid_field")
    with handoff.db.session() as session, session.begin():
        agent = session.get(Agent, ref.id)
        assert agent is not None
        if "name" in data:
            auth.check_account(agent.email, data["name"], "x" * auth.MIN_PASSWORD, agent.role, agent.capacity)
            agent.name = data["name"].strip()
        if "password" in data:
            _check_current_password(agent, data.get("current_password"))
            auth.check_account(agent.email, agent.name, data["password"], agent.role, agent.capacity)
            agent.password_hash = auth.hash_password(data["password"])
            auth.revoke_tokens(session, agent.id, keep=bearer())
    if "password" in data:
        _signed_out(ref.id, keep=bearer())
    if "status" in data:
        handoff.presence.set(ref.id, data["status"])
    return _me()


def _signed_out(agent_id: int, *, keep: str | None = None) -> None:
    """Tell the ``/agent`` namespace to close the agent's sockets (but those signed in with ``keep``)."""
    service().publish("agent_signed_out", {"agent_id": agent_id, "keep": auth.token_hash(keep) if keep else None})


def _check_current_password(agent: Agent, given: Any) -> None:
    if not isinstance(given, str) or not given:
        raise Invalid("changing the password needs 'current_password'", code="current_password_required")
    if not auth.verify_password(agent.password_hash, given):
        raise Forbidden("'current_password' is not the current password", code="wrong_password")


@agent_required
def list_agents() -> Response:
    """Every active agent with presence, load and teams (for transfers)."""
    with service().db.read_session() as session:
        agents = session.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.name)).all()
        return jsonify({"items": [_agent_out(session, a) for a in agents]})


@admin_required
def create_agent() -> tuple[Response, int]:
    """``{email, name, password, role?, teams?, capacity?}`` (admins only)."""
    data, handoff = body(), service()
    with handoff.db.session() as session, session.begin():
        agent = auth.create_agent(session, data.get("email"), data.get("name"), data.get("password"),
                                  role=data.get("role", "agent"), teams=data.get("teams") or [],
                                  capacity=data.get("capacity", handoff.settings.agent_default_capacity))
        out = _agent_out(session, agent)
    return jsonify(out), 201


@admin_required
def update_agent(agent_id: int) -> Response:
    """``{capacity?, role?, teams?, active?, name?}`` (admins only); more capacity offers waiting work.

    The last active admin can be neither deactivated nor made an agent (409 ``last_admin``).
    """
    data, handoff = body(), service()
    unknown = set(data) - {"capacity", "role", "teams", "active", "name"}
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}", code="invalid_field")
    with handoff.db.session() as session, session.begin():
        # lock the active admins first (PostgreSQL), so two admins demoting each other cannot leave none
        admins = _active_admins(session) if {"role", "active"} & set(data) else None
        agent = session.get(Agent, agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id}", code="agent_not_found")
        auth.check_account(agent.email, data.get("name", agent.name), "x" * auth.MIN_PASSWORD,
                           data.get("role", agent.role), data.get("capacity", agent.capacity))
        if "active" in data and not isinstance(data["active"], bool):
            raise Invalid("'active' must be true or false", code="invalid_active")
        if admins is not None and admins == [agent.id] and (data.get("role", "admin") != "admin"
                                                             or data.get("active") is False):
            raise Conflict(f"{agent.name} is the last active admin: make another agent an admin first",
                           code="last_admin")
        for key in ("capacity", "role", "active"):
            if key in data:
                setattr(agent, key, data[key])
        if "name" in data:
            agent.name = data["name"].strip()
        if "teams" in data:
            auth.set_teams(session, agent, data["teams"])
        if data.get("active") is False:
            auth.revoke_tokens(session, agent.id)
        out = _agent_out(session, agent)
    if data.get("active") is False:
        _signed_out(agent_id)
        handoff.presence.requeue_all(agent_id, f"{out['name']}'s account was disabled.")
    handoff.offer()
    return jsonify(out)


def _active_admins(session: Any) -> list[int]:
    """The ids of the active admins, their rows locked until the transaction ends (no-op on SQLite)."""
    return list(session.scalars(select(Agent.id).where(Agent.role == "admin", Agent.active.is_(True))
                                .order_by(Agent.id).with_for_update()))


# --- teams, canned responses, business hours, stats --------------------------------------------
@agent_required
def list_teams() -> Response:
    with service().db.read_session() as session:
        teams = session.scalars(select(Team).order_by(Team.name)).all()
        return jsonify({"items": [{"id": t.id, "name": t.name} for t in teams]})


@admin_required
def create_team() -> tuple[Response, int]:
    name = body().get("name")
    with service().db.session() as session, session.begin():
        if isinstance(name, str) and session.scalar(select(Team.id).where(Team.name == name.strip())):
            raise Conflict(f"a team called {name.strip()} exists", code="team_exists")
        team = auth.ensure_team(session, name)
        out = {"id": team.id, "name": team.name}
    return jsonify(out), 201


@agent_required
def list_canned() -> Response:
    with service().db.read_session() as session:
        rows = session.scalars(select(CannedResponse).order_by(CannedResponse.shortcut)).all()
        return jsonify({"items": [{"id": r.id, "shortcut": r.shortcut, "text": r.text} for r in rows]})


@admin_required
def create_canned() -> tuple[Response, int]:
    """``{shortcut, text}`` (admins only); agents type ``/shortcut`` in the reply box."""
    data = body()
    shortcut, text = data.get("shortcut"), data.get("text")
    if not isinstance(shortcut, str) or not shortcut.strip() or len(shortcut) > 64 or " " in shortcut.strip():
        raise Invalid("'shortcut' must be one word of at most 64 characters", code="invalid_shortcut")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("'text' must be a non-empty string", code="invalid_text")
    try:
        with service().db.session() as session, session.begin():
            row = CannedResponse(shortcut=shortcut.strip().lstrip("/"), text=text, created_at=service().now())
            session.add(row)
            session.flush()
            out = {"id": row.id, "shortcut": row.shortcut, "text": row.text}
    except IntegrityError as exc:
        raise Conflict(f"the shortcut {shortcut} exists", code="shortcut_exists") from exc
    return jsonify(out), 201


@admin_required
def delete_canned(canned_id: int) -> tuple[str, int]:
    with service().db.session() as session, session.begin():
        row = session.get(CannedResponse, canned_id)
        if row is None:
            raise NotFound(f"no canned response {canned_id}", code="not_found")
        session.delete(row)
    return "", 204


def _team_id(session: Any, team: Any) -> int | None:
    if team is None:
        return None
    team_id = session.scalar(select(Team.id).where(Team.name == team)) if isinstance(team, str) else None
    if team_id is None:
        raise Invalid(f"no team {team!r}", code="unknown_team")
    return int(team_id)


@agent_required
def get_hours() -> Response:
    """``?team=NAME``: the schedule in force for the team (or the default) and whether it is open now.

    ``source`` says where it comes from: ``team`` (the team's own), ``default`` (the stored default) or
    ``settings`` (``HELPDESK_BUSINESS_HOURS``).
    """
    handoff = service()
    with handoff.db.read_session() as session:
        team_id = _team_id(session, request.args.get("team"))
        hours = handoff.hours_for(session, team_id)
        source = ("team" if team_id is not None and _hours_row(session, team_id) else
                  "default" if _hours_row(session, None) else "settings")
    now = handoff.now()
    next_open = hours.next_opening(now)
    return jsonify({**hours.as_json(), "source": source, "open_now": hours.is_open(now),
                    "next_opening": serializers.iso(next_open)})


def _hours_row(session: Any, team_id: int | None) -> BusinessHours | None:
    return session.scalars(select(BusinessHours).where(
        BusinessHours.team_id.is_(None) if team_id is None else BusinessHours.team_id == team_id)).one_or_none()


@admin_required
def set_hours() -> Response:
    """``{timezone, schedule: {mon: [["09:00", "17:00"]], ...}, team?}`` (admins only)."""
    data, handoff = body(), service()
    hours = validate(data.get("timezone"), data.get("schedule"))
    with handoff.db.session() as session, session.begin():
        team_id = _team_id(session, data.get("team"))
        row = _hours_row(session, team_id)
        if row is None:
            row = BusinessHours(team_id=team_id)
            session.add(row)
        row.timezone, row.schedule = hours.timezone, hours.schedule
    return jsonify(hours.as_json())


@admin_required
def delete_hours() -> tuple[str, int]:
    """``?team=NAME``: the team goes back to the default hours; without a team, the stored default goes and
    ``HELPDESK_BUSINESS_HOURS`` applies again (admins only). 404 when there is nothing to remove."""
    team = request.args.get("team")
    with service().db.session() as session, session.begin():
        row = _hours_row(session, _team_id(session, team))
        if row is None:
            raise NotFound(f"team {team} has no hours of its own" if team is not None
                           else "no default hours are stored", code="hours_not_found")
        session.delete(row)
    return "", 204


@agent_required
def get_stats() -> Response:
    handoff = service()
    with handoff.db.read_session() as session:
        return jsonify(reporting.compute(session, handoff.now()))
