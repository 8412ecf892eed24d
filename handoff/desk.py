"""The agent inbox as a chat connector (Slack) uses it: find the agent behind a chat account,
claim, reply or note, resolve, and hand a conversation to people from outside a turn.

Connectors never import ``handoff``: the composition root gives them a :class:`ChatDesk`, which
they see through their own port (``connectors.slack.agents.AgentDesk``). Every method returns
``None`` on success or a sentence for the person who asked (an ephemeral Slack message).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select

from helpdesk.conversations.models import Conversation
from helpdesk.handoff import queue, serializers
from helpdesk.handoff.context import NoteEntry
from helpdesk.handoff.errors import HandoffError
from helpdesk.handoff.models import Agent, TeamMembership
from helpdesk.handoff.types import AgentRef, HandoffRequest

if TYPE_CHECKING:
    from helpdesk.handoff.service import HandoffService

log = logging.getLogger(__name__)


class ChatAccount(Protocol):
    """Who wrote, as the chat knows them."""

    name: str
    email: str | None


class ChatDesk:
    """See the module docstring.

    Args:
        service: the handoff service.
        channel: the connector's channel name (``Conversation.channel``).
    """

    def __init__(self, service: HandoffService, channel: str) -> None:
        self.service = service
        self.channel = channel

    def agent_for(self, account: ChatAccount) -> AgentRef | None:
        """The active agent with the account's email, else the only one with its name."""
        with self.service.db.read_session() as session:
            agent = None
            if account.email:
                agent = session.scalars(select(Agent).where(func.lower(Agent.email) == account.email.lower(),
                                                            Agent.active.is_(True))).first()
            if agent is None and account.name:
                named = list(session.scalars(select(Agent).where(func.lower(Agent.name) == account.name.lower(),
                                                                 Agent.active.is_(True)).limit(2)))
                agent = named[0] if len(named) == 1 else None
            if agent is None:
                return None
            teams = frozenset(session.scalars(select(TeamMembership.team_id)
                                              .where(TeamMembership.agent_id == agent.id)))
            return AgentRef(agent.id, agent.name, agent.email, agent.role, teams, agent.last_seen_at)

    def seen(self, agent: AgentRef) -> None:
        """The agent acted in the chat: a heartbeat, and online when they were offline (an agent
        who chose away stays away)."""
        presence = self.service.presence
        with self.service.db.read_session() as session:
            current = session.scalars(select(Agent.presence).where(Agent.id == agent.id)).first()
        if current == "offline":
            presence.set(agent.id, "online")
        else:
            presence.heartbeat(agent.id)

    def still_there(self, agent: AgentRef) -> None:
        """The chat shows the agent active: a heartbeat (presence unchanged)."""
        self.service.presence.heartbeat(agent.id)

    def claim(self, conversation_id: int, agent: AgentRef) -> str | None:
        return self._do(lambda: self.service.actions.claim(agent, conversation_id))

    def resolve(self, conversation_id: int, agent: AgentRef) -> str | None:
        return self._do(lambda: self.service.actions.resolve(agent, conversation_id))

    def reply(self, conversation_id: int, agent: AgentRef, text: str, *, internal: bool) -> str | None:
        actions = self.service.actions
        if internal:
            return self._do(lambda: actions.note(agent, conversation_id, text))
        return self._do(lambda: actions.reply(agent, conversation_id, text))

    def take_over(self, conversation_id: int, agent: AgentRef | None, name: str, text: str,
                  external_id: str) -> str | None:
        """Staff wrote in the customer's own thread (the customer already sees it): the bot goes
        quiet — claimed by that agent, or queued when no agent matches — and agents get it as a note."""
        if agent is not None:
            problem = self.claim(conversation_id, agent)
            if problem is None:
                return self._do(lambda: self.service.actions.note(agent, conversation_id,
                                                                  f"{name} in the chat: {text}"))
            return problem
        self.hand_over(conversation_id, "agent_takeover")
        with self.service.conversation(conversation_id) as (turn, _pending):
            self.service.ctx.note(turn, queue.open_handoff(turn.session, conversation_id),
                                  NoteEntry(f"{name} (no helpdesk account) in the chat: {text}", kind="note"))
        return None

    def hand_over(self, conversation_id: int, reason: str) -> str | None:
        """Hand the conversation to people now (no customer turn involved)."""
        service = self.service
        with service.conversation(conversation_id) as (turn, pending):
            if queue.open_handoff(turn.session, conversation_id) is not None:
                return None
            # the request's own events and follow-ups are attached to the turn; its messages and
            # the status change are what a customer turn would have published
            outcome = service.request(turn, HandoffRequest(reason=reason), announce=True)
            if service.ctx.metrics is not None:  # the ticket reaction, staff without an account: Slack's own
                service.ctx.metrics.handoffs.labels(reason, turn.conversation.channel).inc()
            for message in outcome.messages:
                pending.add("message", serializers.message_json(turn.conversation, message))
            service.ctx.status_event(turn, pending, **outcome.status_data)
        return None

    def conversation_for(self, thread_key: str) -> int | None:
        with self.service.db.read_session() as session:
            return session.scalars(select(Conversation.id).where(
                Conversation.channel == self.channel, Conversation.thread_key == thread_key)).first()

    def _do(self, act: Any) -> str | None:
        try:
            act()
        except HandoffError as exc:
            return exc.message
        return None
