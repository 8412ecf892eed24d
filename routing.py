"""The turn pipeline: the one place that knows both the dialogue engine and the conversation store.

Inbound messages are stored first (one transaction, duplicates dropped) and only then handled:
under the conversation's turn lock every customer message not yet answered is run through the
engine in ``seq`` order, and the replies, the new state and the events commit together.
Publishing (socket emits) happens after the commit. See DESIGN §2.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from helpdesk.conversations.db import Database
from helpdesk.conversations.locks import TurnLocks
from helpdesk.conversations.logcontext import conversation_context
from helpdesk.conversations.models import Message
from helpdesk.conversations.outbound import Delivery, bot_payload, message_event
from helpdesk.conversations.outbound import where as where_of
from helpdesk.conversations.turn import Turn, TurnConflict, open_turn
from helpdesk.conversations.types import ConversationSnapshot, OutgoingMessage
from helpdesk.dialogue.engine import Engine, TurnResult, UserMessage
from helpdesk.dialogue.tracker import BotMessage
from helpdesk.handoff.lifecycle import HUMAN_STATUSES as _HUMAN
from helpdesk.handoff.lifecycle import change_status
from helpdesk.handoff.service import HandoffService
from helpdesk.handoff.types import HandoffRequest, Outcome
from helpdesk.observability import Metrics

log = logging.getLogger(__name__)
#: statuses in which customer messages go to people, never to the bot
HUMAN_STATUSES = tuple(sorted(_HUMAN))
Publisher = Callable[[str, dict[str, Any]], None]


def _no_publish(event: str, data: dict[str, Any]) -> None:
    return None


class TurnPipeline:
    """Stores inbound messages and runs their turns, strictly in order per conversation."""

    def __init__(self, db: Database, engine: Engine, *, locks: TurnLocks | None = None,
                 publish: Publisher = _no_publish, metrics: Metrics | None = None,
                 handoff: HandoffService | None = None, delivery: Delivery | None = None,
                 working: Callable[[], AbstractContextManager[object]] = nullcontext) -> None:
        self.db = db
        self.engine = engine
        self.locks = locks if locks is not None else TurnLocks()
        self.publish = publish
        self.metrics = metrics
        #: queue, assignment and auto-handoff rules (None: a handoff only sets the status)
        self.handoff = handoff
        #: how new messages leave: outbox rows for store-and-forward channels (``conversations.outbound``)
        self.delivery = delivery
        #: held while a turn computes (``llm.gate.working``: a few turns at a time, their remote
        #: calls wait without a place, so request threads always get the interpreter)
        self.working = working
        self._active = 0  # turns running now (graceful shutdown waits for them)
        self._idle = threading.Condition()

    @contextmanager
    def _in_flight(self) -> Iterator[None]:
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                if not self._active:
                    self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no turn runs (graceful shutdown); False after ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def run_pending(self, conversation_id: int, snapshot: ConversationSnapshot | None = None) -> dict[int, list[Message]]:
        """Run the turns of every stored customer message not yet handled, in seq order;
        return the replies written, by the id of the message they answer. ``snapshot`` (what storing
        the latest message saw, ``StoredInbound.snapshot``) saves the first attempt its read."""
        with self._in_flight(), conversation_context(conversation_id):
            for _attempt in range(3):
                answered: dict[int, list[Message]] = {}
                try:
                    # understanding and actions run between the turn's read and write transactions,
                    # holding only this conversation's in-process lock
                    with open_turn(self.db, self.locks, conversation_id, delivery=self.delivery,
                                   snapshot=snapshot) as turn, \
                            conversation_context(channel=turn.conversation.channel), self.working():
                        self._run(turn, answered)
                    return answered
                except TurnConflict:
                    log.info("routing.turn.conflict")
                    snapshot = None
        return {}

    def _run(self, turn: Turn, answered: dict[int, list[Message]]) -> None:
        pending = turn.pending_customer_messages()
        if not pending:
            return
        began = time.perf_counter()
        conversation = turn.conversation
        state = conversation.state
        before = conversation.status
        status = "bot" if conversation.status == "resolved" else conversation.status
        results: list[tuple[Message, TurnResult | None]] = []
        for message in pending:
            if status in HUMAN_STATUSES:
                results.append((message, None))
                continue
            started = time.perf_counter()
            result = self.engine.handle(state, self._user_message(conversation.channel,
                                                                  conversation.thread_key, message))
            if self.metrics:
                self.metrics.turn_seconds.observe(time.perf_counter() - started)
                self.metrics.turns.labels(conversation.channel).inc()
            state = result.state
            results.append((message, result))
            self._auto_handoff(conversation.id, result, [r.commands for _, r in results[:-1] if r][::-1])
            for effect in result.effects:
                if effect.get("type") == "handoff":
                    status = "queued"  # the engine already silenced the bot after the handoff
                    if self.metrics:
                        self.metrics.handoffs.labels(str(effect.get("reason")), conversation.channel).inc()
        self._write(turn, results, state, (before, status), answered)
        log.info("routing.turn", extra={"messages": len(pending), "replies": sum(map(len, answered.values())),
                                        "status": turn.conversation.status,
                                        "ms": round((time.perf_counter() - began) * 1000, 1)})

    def _user_message(self, channel: str, thread_key: str, message: Message) -> UserMessage:
        payload = message.payload or {}
        text = message.text if message.text is not None else payload.get("payload")
        return UserMessage(text=text, sender_id=f"{channel}:{thread_key}", channel=channel,
                           metadata=dict(payload.get("metadata") or {}))

    def _write(self, turn: Turn, results: list[tuple[Message, TurnResult | None]],
               state: dict[str, Any], statuses: tuple[str, str], answered: dict[int, list[Message]]) -> None:
        before, status = statuses
        conversation = turn.conversation
        # the replies of every message of the turn in one INSERT (they get their ids), then the events
        replies = turn.append_messages([(OutgoingMessage("bot", bot.text, _bot_payload(bot)), message.id)
                                        for message, result in results if result is not None
                                        for bot in result.messages])
        new_messages: list[Message] = list(replies)
        bot_ran = False
        for message, result in results:
            answered[message.id] = []
            if result is not None:
                bot_ran = True
                turn.add_events(result.events + [{"event": "effect", **e} for e in result.effects], message.id)
            turn.mark_processed(message.seq)
        for reply in replies:
            answered[reply.in_reply_to or 0].append(reply)
        if bot_ran:  # a new state document
            turn.save_state(state)
        outcomes = self._handoff_step(turn, results, statuses, answered, new_messages)
        status = turn.conversation.status
        where = dict(where_of(conversation))
        turn.session.flush()  # what the handoff added (its messages have their ids already)
        published = sorted([m for m, _ in results] + new_messages, key=lambda m: m.seq)
        snapshot = [dict(message_event(conversation, m)) for m in published]
        changed = status != before
        extra = {key: value for outcome in outcomes for key, value in outcome.status_data.items()}
        # the handoff's events (the agents' inbox) were attached to the turn first; follow-ups
        # (offers, summaries) run once the turn lock is released
        turn.after_commit(lambda: self._publish(where, snapshot, status, changed, extra))

    def _publish(self, where: dict[str, Any], messages: list[dict[str, Any]], status: str, changed: bool,
                 extra: dict[str, Any] | None = None) -> None:
        for message in messages:
            self.publish("message", message)
        if changed:
            self.publish("status", {**where, "status": status})
        if extra:  # the handoff's details for the customer: place in line, estimated wait, agent
            self.publish("status", {**where, "status": status, **extra})

    # --- handoff: the rules live in handoff/, the pipeline only calls them ----------------------
    def _auto_handoff(self, conversation_id: int, result: TurnResult, earlier: list[list[dict[str, Any]]]) -> None:
        """Repeated ``cannot handle`` or an internal error hand over (``handoff.triggers``)."""
        if self.handoff is None or any(e.get("type") == "handoff" for e in result.effects):
            return
        names = [[str(c.get("command")) for c in commands] for commands in earlier]
        reason = self.handoff.auto_reason(conversation_id, result.commands, result.events, names)
        if reason is not None:
            slots = {k: v for k, v in (result.state.get("slots") or {}).items() if v is not None}
            result.effects.append({"type": "handoff", "reason": reason, "flow": None, "slots": slots,
                                   "announce": True})

    def _handoff_step(self, turn: Turn, results: list[tuple[Message, TurnResult | None]],
                      statuses: tuple[str, str], answered: dict[int, list[Message]],
                      new_messages: list[Message]) -> list[Outcome]:
        """Status changes and handoff requests of the turn, inside its transaction."""
        before, status = statuses
        if self.handoff is None:
            if status != before:
                turn.set_status(status)
            return []
        if before == "resolved":
            change_status(turn, "bot")
        outcomes = []
        humans = [m for m, r in results if r is None]
        if humans:
            outcomes.append(self.handoff.on_customer_messages(turn, humans))
        for message, result in results:
            effect = next((e for e in (result.effects if result else []) if e.get("type") == "handoff"), None)
            if effect is not None:
                outcomes.append(self.handoff.request(turn, _handoff_request(effect), reply_to=message.id,
                                                     announce=bool(effect.get("announce"))))
        for outcome in outcomes:
            for added in outcome.messages:
                new_messages.append(added)
                answered.setdefault(added.in_reply_to or 0, []).append(added)
        return outcomes


class Resumer:
    """Runs the assistant again after people had the conversation (handoff's ``resume``: release,
    resolve, auto-resolve), inside the conversation's turn — the engine does the dialogue part
    (:meth:`dialogue.engine.Engine.resume`), this writes its messages, events and state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, turn: Turn, flow: str | None, clear: bool) -> list[Message]:
        """Keep the slots and stack (``clear`` empties the stack) and start ``flow`` (e.g. the
        satisfaction question) instead of starting over. Returns the bot messages written."""
        conversation = turn.conversation
        result = self.engine.resume(conversation.state, f"{conversation.channel}:{conversation.thread_key}",
                                    channel=conversation.channel, flow=flow, clear=clear)
        written = [turn.append_message(OutgoingMessage("bot", m.text, _bot_payload(m))) for m in result.messages]
        turn.add_events(result.events)
        turn.save_state(result.state)
        return written


def _bot_payload(bot: BotMessage) -> dict[str, Any]:
    return bot_payload(bot.buttons, bot.utter_action, image=bot.image, custom=bot.custom)


def _handoff_request(effect: dict[str, Any]) -> HandoffRequest:
    slots = dict(effect.get("slots") or {})
    reason = str(effect.get("reason") or "customer_request")
    if reason.startswith("link from"):
        reason = "customer_request"
    team = slots.get("handoff_team")
    return HandoffRequest(reason=reason, team=team if isinstance(team, str) else None,
                          priority=str(slots.get("handoff_priority") or "normal"),
                          flow=effect.get("flow"), slots=slots)
