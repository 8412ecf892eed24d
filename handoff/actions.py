"""What agents do to a conversation: claim (or take over from the bot), reply, note, transfer,
release to the bot, resolve, type. Each action is one turn of the conversation: its lock, one
transaction, events after the commit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.conversations.models import Conversation
from helpdesk.conversations.turn import Turn
from helpdesk.dialogue.view import DialogueView
from helpdesk.handoff import queue, serializers, texts, timers
from helpdesk.handoff.assignment import Assigner
from helpdesk.handoff.context import HandoffContext, NoteEntry, Say
from helpdesk.handoff.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from helpdesk.handoff.intake import Intake
from helpdesk.handoff.models import Agent, Handoff, Team
from helpdesk.handoff.types import AgentRef, HandoffRequest, Pending, Resumer


class AgentActions:
    """The agent actions of the REST API and the dashboard."""

    def __init__(self, ctx: HandoffContext, assigner: Assigner, intake: Intake, *,
                 resume: Resumer | None = None) -> None:
        self.ctx, self.assigner, self.intake = ctx, assigner, intake
        #: runs the assistant again on release/resolve (None: the bot just waits for the customer)
        self.resume = resume

    # --- helpers --------------------------------------------------------------------------
    def _agent(self, session: Session, ref: AgentRef) -> Agent:
        agent = session.get(Agent, ref.id)
        if agent is None or not agent.active:
            raise Unauthorized("this agent account is disabled", code="agent_disabled")
        return agent

    def _open(self, turn: Turn, ref: AgentRef) -> Handoff | None:
        """The open handoff, after checking the agent may act on the conversation."""
        handoff = queue.open_handoff(turn.session, turn.conversation.id)
        team_id = handoff.team_id if handoff else _last_team(turn.session, turn.conversation.id)
        if not ref.may_see(team_id, handoff.assignee_id if handoff else None):
            raise Forbidden("this conversation belongs to a team you are not in", code="wrong_team")
        return handoff

    def _owned(self, turn: Turn, ref: AgentRef) -> Handoff:
        """The open handoff, which must be queued, or assigned to ``ref`` (admins: anyone's)."""
        handoff = self._open(turn, ref)
        if handoff is None:
            raise Conflict("the conversation is not with people", code="not_handed_off")
        if handoff.status == "assigned" and handoff.assignee_id != ref.id and not ref.is_admin:
            raise Forbidden("the conversation is assigned to someone else", code="assigned_to_other")
        return handoff

    def _item(self, turn: Turn, handoff: Handoff | None) -> dict[str, Any]:
        turn.session.flush()
        return serializers.item_json(turn.session, turn.conversation, handoff, self.ctx.now())

    # --- actions --------------------------------------------------------------------------
    def claim(self, ref: AgentRef, conversation_id: int) -> dict[str, Any]:
        """Take a queued conversation, or take over one the bot is handling. 409 if someone has it,
        or if the agent is offline (admins may claim while offline)."""
        with self.ctx.conversation(conversation_id) as (turn, pending):
            self._ensure_assigned(turn, ref, pending, claiming=True)
            return self._item(turn, queue.open_handoff(turn.session, conversation_id))

    def _ensure_assigned(self, turn: Turn, ref: AgentRef, pending: Pending, *, claiming: bool = False) -> Handoff:
        agent = self._agent(turn.session, ref)
        handoff = self._open(turn, ref)
        mine = handoff is not None and handoff.status == "assigned" and handoff.assignee_id == ref.id
        if claiming and not mine and not ref.is_admin and agent.presence == "offline":
            raise Conflict("you are offline: go online (or away) to claim conversations", code="agent_offline")
        if handoff is None:
            handoff = self._take_over(turn, pending)
        if handoff.status == "assigned":
            if handoff.assignee_id == ref.id:
                return handoff
            raise Conflict("someone else has already claimed this conversation", code="already_assigned")
        self.assigner.assign(turn, handoff, agent, pending)
        return handoff

    def _take_over(self, turn: Turn, pending: Pending) -> Handoff:
        request = HandoffRequest(reason="agent_takeover", flow=DialogueView.of(turn.conversation.state).active_flow)
        handoff = self.intake.open(turn, request)
        self.intake.summaries.write(turn, handoff, request, pending)
        if self.ctx.metrics:
            self.ctx.metrics.handoffs.labels("agent_takeover", turn.conversation.channel).inc()
        return handoff

    def reply(self, ref: AgentRef, conversation_id: int, text: Any) -> dict[str, Any]:
        """Send a message to the customer (claiming the conversation first when nobody has it)."""
        text = self._text(text)
        with self.ctx.conversation(conversation_id) as (turn, pending):
            handoff = self._open(turn, ref)
            if handoff is None or handoff.status == "queued" or (handoff.assignee_id != ref.id and not ref.is_admin):
                handoff = self._ensure_assigned(turn, ref, pending)
            message = self.ctx.say(turn, pending, Say(text, role="agent", author=ref.name,
                                                      payload={"agent_id": ref.id}))
            self._responded(turn, handoff)
            return serializers.message_json(turn.conversation, message)

    def _responded(self, turn: Turn, handoff: Handoff) -> None:
        ctx, now = self.ctx, self.ctx.now()
        if handoff.first_response_at is None:
            handoff.first_response_at = now
            timers.cancel(turn.session, handoff.id, "agent_response")
            if ctx.metrics:
                ctx.metrics.first_response_seconds.observe((now - handoff.requested_at).total_seconds())
        if ctx.settings.handoff_inactivity_seconds > 0:
            due = now + timedelta(seconds=ctx.settings.handoff_inactivity_seconds)
            timers.arm(turn.session, handoff, "inactivity", due)

    def note(self, ref: AgentRef, conversation_id: int, text: Any) -> dict[str, Any]:
        """Add an internal note: agents see it, the customer never does."""
        text = self._text(text)
        with self.ctx.conversation(conversation_id) as (turn, pending):
            handoff = self._open(turn, ref)
            agent = self._agent(turn.session, ref)
            row = self.ctx.note(turn, handoff, NoteEntry(text, kind="note", author=agent))
            note = serializers.note_json(row, agent.name)
            pending.add("note", note)
            return note

    def transfer(self, ref: AgentRef, conversation_id: int, *, agent_id: Any = None, team: Any = None) -> dict[str, Any]:
        """Give the conversation to another agent, or put it in another team's queue."""
        if (agent_id is None) == (team is None):
            raise Invalid("give either 'agent_id' or 'team'", code="invalid_transfer")
        with self.ctx.conversation(conversation_id) as (turn, pending):
            handoff = self._owned(turn, ref)
            if agent_id is not None:
                self._to_agent(turn, ref, handoff, agent_id, pending)
            else:
                self._to_team(turn, ref, handoff, team, pending)
            return self._item(turn, handoff)

    def _to_agent(self, turn: Turn, ref: AgentRef, handoff: Handoff, agent_id: Any, pending: Pending) -> None:
        target = turn.session.get(Agent, agent_id) if isinstance(agent_id, int) else None
        if target is None or not target.active:
            raise Invalid(f"no active agent {agent_id!r}", code="unknown_agent")
        if target.id == handoff.assignee_id:
            return
        if handoff.status == "assigned":
            handoff.status, handoff.assignee_id = "queued", None
            turn.session.flush()
        self.ctx.note(turn, handoff, NoteEntry(f"{ref.name} transferred the conversation to {target.name}."))
        self.assigner.assign(turn, handoff, target, pending)

    def _to_team(self, turn: Turn, ref: AgentRef, handoff: Handoff, team: Any, pending: Pending) -> None:
        query = select(Team).where(Team.id == team) if isinstance(team, int) else select(Team).where(Team.name == team)
        row = turn.session.scalars(query).one_or_none() if isinstance(team, (int, str)) else None
        if row is None:
            raise Invalid(f"no team {team!r}", code="unknown_team")
        handoff.team_id = row.id
        why = f"{ref.name} transferred the conversation to the {row.name} team."
        self.ctx.say(turn, pending, Say(texts.TRANSFERRED.format(target=f"the {row.name} team")))
        if handoff.status == "assigned":
            self.assigner.requeue(turn, handoff, pending, why, tell_customer=False)
            return
        self.ctx.note(turn, handoff, NoteEntry(why))
        handoff.notified_position = None
        self.ctx.changed(turn, handoff, pending, "transferred", alert=True)
        pending.then(self.assigner.offer)
        pending.then(lambda: self.assigner.notify_positions(row.id))

    def release(self, ref: AgentRef, conversation_id: int, flow: Any = None) -> dict[str, Any]:
        """Hand the conversation back to the assistant, which resumes (by default: asks how
        satisfied the customer was) instead of starting over."""
        flow = flow if flow is not None else self.ctx.settings.handoff_resume_flow
        if flow is not None and not isinstance(flow, str):
            raise Invalid("'flow' must be a flow id", code="invalid_flow")
        with self.ctx.conversation(conversation_id) as (turn, pending):
            handoff = self._owned(turn, ref)
            self.assigner.close(turn, handoff, pending, "released", "bot")
            self.ctx.say(turn, pending, Say(texts.RELEASED, payload={"event": "released"}))
            self._resume(turn, pending, flow or None, clear=False)
            return self._item(turn, None)

    def resolve(self, ref: AgentRef, conversation_id: int) -> dict[str, Any]:
        """Close the conversation; the next customer message starts afresh with the assistant."""
        with self.ctx.conversation(conversation_id) as (turn, pending):
            handoff = self._open(turn, ref)
            if handoff is not None and handoff.status == "assigned" and handoff.assignee_id != ref.id \
                    and not ref.is_admin:
                raise Forbidden("the conversation is assigned to someone else", code="assigned_to_other")
            if turn.conversation.status == "resolved":
                return self._item(turn, None)
            self.assigner.close(turn, handoff, pending, "resolved", "resolved")
            self.ctx.say(turn, pending, Say(texts.RESOLVED, payload={"event": "resolved"}))
            self._resume(turn, pending, None, clear=True)
            return self._item(turn, None)

    def _resume(self, turn: Turn, pending: Pending, flow: str | None, *, clear: bool) -> None:
        if self.resume is None:
            return
        for message in self.resume(turn, flow, clear):
            pending.add("message", serializers.message_json(turn.conversation, message))

    def typing(self, ref: AgentRef, conversation_id: int, typing: bool) -> None:
        """Tell the customer (and the other agents) that ``ref`` is typing."""
        with self.ctx.db.read_session() as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                raise NotFound(f"no conversation {conversation_id}", code="conversation_not_found")
            handoff = queue.open_handoff(session, conversation_id)
            team_id = handoff.team_id if handoff else _last_team(session, conversation_id)
            if not ref.may_see(team_id, handoff.assignee_id if handoff else None):
                raise Forbidden("this conversation belongs to a team you are not in", code="wrong_team")
            where = {"conversation_id": conversation.id, "channel": conversation.channel,
                     "thread_key": conversation.thread_key}
        self.ctx.publish("typing", {**where, "role": "agent", "typing": bool(typing),
                                        "author": {"name": ref.name}, "agent_id": ref.id})

    def _text(self, text: Any) -> str:
        limit = self.ctx.settings.max_message_chars
        if not isinstance(text, str) or not text.strip():
            raise Invalid("'text' must be a non-empty string", code="invalid_text")
        if len(text) > limit:
            raise Invalid(f"'text' is longer than {limit} characters", code="text_too_long")
        return text


def _last_team(session: Session, conversation_id: int) -> int | None:
    handoff = queue.latest_handoff(session, conversation_id)
    return handoff.team_id if handoff else None
