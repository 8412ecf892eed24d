"""The whole topology (deploy/topology.py: nginx, web processes, workers, PostgreSQL, Redis) for
the fault tests; a test skips with the reason when nginx, PostgreSQL or Redis is missing."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from deploy.topology import DEFAULT_POSTGRES, Topology, TopologyConfig, missing
from helpdesk.conversations.models import Message
from tests.production.visitors import Visitor

POSTGRES = os.environ.get("HELPDESK_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
#: every client of a test comes from 127.0.0.1: the rate limits have their own tests (tests/security)
NO_LIMITS = {"HELPDESK_WIDGET_RATE_PER_MINUTE": "0", "HELPDESK_ADDRESS_RATE_PER_MINUTE": "0",
             "HELPDESK_NEW_SESSIONS_PER_MINUTE": "0", "HELPDESK_SENDER_RATE_PER_MINUTE": "0",
             "HELPDESK_KNOWLEDGE_RELOAD_SECONDS": "0", "HELPDESK_LOG_LEVEL": "WARNING"}

StartTopology = Callable[..., AbstractContextManager[Topology]]


@contextmanager
def running_topology(*, own_postgres: bool = False, env: dict[str, str] | None = None,
                     **options: Any) -> Iterator[Topology]:
    """``with running_topology(web=2, workers=1, own_postgres=False, env={...}) as t:``; skips when
    a part is missing here (module-scoped fixtures share one topology through it)."""
    reason = missing(own_postgres=own_postgres, postgres_url=POSTGRES)
    if reason:
        pytest.skip(reason)
    config = TopologyConfig(postgres_url=POSTGRES, own_postgres=own_postgres, env={**NO_LIMITS, **(env or {})},
                            **options)
    with Topology(config) as running:
        yield running


@pytest.fixture
def start_topology() -> StartTopology:
    """:func:`running_topology` for one test."""
    return running_topology


@contextmanager
def database(url: str) -> Iterator[Session]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def messages(url: str, conversation_id: int) -> list[Message]:
    with database(url) as session:
        return list(session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                    .order_by(Message.seq)))


def answered_once(rows: list[Message], client_ids: list[str]) -> list[str]:
    """What is wrong with one conversation's stored messages, given the client_ids its visitor sent:
    each stored exactly once, each answered, no reply written twice (nothing when all is right)."""
    problems = []
    customer = [m for m in rows if m.role == "customer"]
    stored = [m.external_id or "" for m in customer]
    if sorted(stored) != sorted(client_ids):
        problems.append(f"customer messages stored {len(stored)} (distinct {len(set(stored))}) for "
                        f"{len(client_ids)} sent")
    for message in customer:
        replies = [(m.role, m.text) for m in rows if m.in_reply_to == message.id]
        if not replies:
            problems.append(f"message {message.seq} ({message.text!r}) never answered")
        elif len(replies) != len(set(replies)):
            problems.append(f"message {message.seq} answered twice: {replies}")
    return problems


def visitor_problems(url: str, visitors: list[Visitor]) -> list[str]:
    """What is wrong with what the visitors sent and received, checked against the database: every
    acknowledged message stored once and answered once, every reply seen, no seq with two ids."""
    problems = []
    for number, visitor in enumerate(visitors):
        assert visitor.conversation_id is not None
        rows = messages(url, visitor.conversation_id)
        problems += [f"visitor {number}: {p}" for p in answered_once(rows, list(visitor.acked))]
        problems += [f"visitor {number}: no reply to {cid}" for cid in visitor.unanswered]
        problems += [f"visitor {number}: seq {s} came with two ids" for s in visitor.conflicts]
        stored_replies = {m.id for m in rows if m.role != "customer"}
        if visitor.replies_seen() != stored_replies:
            problems.append(f"visitor {number}: got {len(visitor.replies_seen())} replies, "
                            f"{len(stored_replies)} stored")
    return problems
