"""Agent accounts and bearer tokens: argon2id password hashes, random tokens stored as SHA-256."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from helpdesk.handoff.errors import Conflict, Invalid, Unauthorized
from helpdesk.handoff.models import ROLES, Agent, AgentToken, Team, TeamMembership
from helpdesk.handoff.types import AgentRef

_HASHER = PasswordHasher()
#: verified against when the email is unknown, so both failures take the same time: a literal of
#: ``_HASHER``'s parameters (a unit test checks they agree), not hashed at import, where argon2's
#: 64 MiB working memory would set every process's peak memory
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$/pGF3bdJ9sTSuIzk3dO2og$d+aDluW6r2XAloGXeK8dUeIzICiDwiQmKAooaZJIUAM"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_account(email: Any, name: Any, password: Any, role: Any, capacity: Any) -> None:
    """Validate the fields of a new agent.

    Raises:
        Invalid: naming the bad field.
    """
    if not isinstance(email, str) or not _EMAIL.match(email) or len(email) > 255:
        raise Invalid("'email' must be an email address", code="invalid_email")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise Invalid("'name' must be a non-empty string", code="invalid_name")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid(f"'password' must have at least {MIN_PASSWORD} characters", code="invalid_password")
    if role not in ROLES:
        raise Invalid(f"'role' must be one of {', '.join(ROLES)}", code="invalid_role")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 0 <= capacity <= 100:
        raise Invalid("'capacity' must be a whole number from 0 to 100", code="invalid_capacity")


def ensure_team(session: Session, name: Any) -> Team:
    """The team called ``name``, created when missing."""
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise Invalid("a team name is a non-empty string of at most 64 characters", code="invalid_team")
    team = session.scalars(select(Team).where(Team.name == name.strip())).one_or_none()
    if team is None:
        team = Team(name=name.strip())
        session.add(team)
        session.flush()
    return team


def create_agent(session: Session, email: Any, name: Any, password: Any, *, role: str = "agent",
                 teams: list[str] | None = None, capacity: int = 3) -> Agent:
    """Add an agent (teams are created as needed).

    Raises:
        Invalid: a bad field. Conflict: the email is taken.
    """
    check_account(email, name, password, role, capacity)
    email = email.strip().lower()
    if session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise Conflict(f"an agent with email {email} exists", code="email_taken")
    agent = Agent(email=email, name=name.strip(), password_hash=hash_password(password), role=role,
                  capacity=capacity, presence="offline")
    session.add(agent)
    session.flush()
    set_teams(session, agent, teams or [])
    return agent


def set_teams(session: Session, agent: Agent, teams: list[str]) -> None:
    if not isinstance(teams, list):
        raise Invalid("'teams' must be a list of team names", code="invalid_team")
    session.execute(delete(TeamMembership).where(TeamMembership.agent_id == agent.id))
    for team in {t.strip() if isinstance(t, str) else t for t in teams}:
        session.add(TeamMembership(agent_id=agent.id, team_id=ensure_team(session, team).id))
    session.flush()


def team_names(session: Session, agent_id: int) -> list[str]:
    query = (select(Team.name).join(TeamMembership, TeamMembership.team_id == Team.id)
             .where(TeamMembership.agent_id == agent_id).order_by(Team.name))
    return list(session.scalars(query))


def login(session: Session, email: Any, password: Any, now: datetime, ttl_seconds: int) -> tuple[str, Agent]:
    """Check the credentials and issue a bearer token.

    Raises:
        Unauthorized: the same error for an unknown email and a wrong password.
    """
    if not isinstance(email, str) or not isinstance(password, str):
        raise Invalid("'email' and 'password' must be strings", code="invalid_credentials_format")
    agent = session.scalars(select(Agent).where(Agent.email == email.strip().lower())).one_or_none()
    ok = verify_password(agent.password_hash if agent else _DUMMY_HASH, password)
    if agent is None or not ok or not agent.active:
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    if _HASHER.check_needs_rehash(agent.password_hash):
        agent.password_hash = hash_password(password)
    token = secrets.token_urlsafe(32)
    session.add(AgentToken(agent_id=agent.id, token_hash=token_hash(token), created_at=now,
                           expires_at=now + timedelta(seconds=ttl_seconds)))
    session.flush()
    return token, agent


def authenticate(session: Session, token: str | None, now: datetime) -> AgentRef | None:
    """The agent a bearer token belongs to; ``None`` for a missing, unknown or expired token."""
    if not token:
        return None
    return authenticate_hash(session, token_hash(token), now)


def authenticate_hash(session: Session, hashed: str | None, now: datetime) -> AgentRef | None:
    """As :func:`authenticate`, for the SHA-256 of a token."""
    if not hashed:
        return None
    row = session.execute(select(Agent, AgentToken.expires_at).join(AgentToken, AgentToken.agent_id == Agent.id)
                          .where(AgentToken.token_hash == hashed)).one_or_none()
    if row is None or row[1] <= now or not row[0].active:
        return None
    agent = row[0]
    team_ids = frozenset(session.scalars(select(TeamMembership.team_id).where(TeamMembership.agent_id == agent.id)))
    return AgentRef(agent.id, agent.name, agent.email, agent.role, team_ids, agent.last_seen_at)


def revoke_tokens(session: Session, agent_id: int, *, keep: str | None = None) -> None:
    """Delete the agent's tokens (all but ``keep``): they sign in nowhere any more."""
    query = delete(AgentToken).where(AgentToken.agent_id == agent_id)
    if keep:
        query = query.where(AgentToken.token_hash != token_hash(keep))
    session.execute(query)


def logout(session: Session, token: str) -> None:
    session.execute(delete(AgentToken).where(AgentToken.token_hash == token_hash(token)))
