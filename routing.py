"""The turn pipeline: the one place that knows both the dialogue engine and the conversation store.

Inbound messages are stored first (one transaction, duplicates dropped) and only then handled:
under the conversation's turn lock every customer message not yet answered is run through the
engine in ``seq`` order, and the replies, the new state and the events commit together.
Publishing (socket emits) happens after the commit. See DESIGN §2.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from conversations.db import Database
from conversations.locks import TurnLocks
from conversations.models import Message
from conversations.store import replies_to, store_inbound
from conversations.turn import Turn, TurnConflict, open_turn
from conversations.types import Inbound, OutgoingMessage, StoredInbound
from dialogue.engine import Engine, TurnResult, UserMessage
from observability import Metrics

log = logging.getLogger(__name__)
#: statuses in which customer messages go to people, never to the bot
HUMAN_STATUSES = ("queued", "assigned")
Publisher = Callable[[str, dict[str, Any]], None]


@dataclass
class Handled:
    """The outcome of one inbound message: where it was stored and the replies to it."""

    stored: StoredInbound
    replies: list[Message] = field(default_factory=list)


def _no_publish(event: str, data: dict[str, Any]) -> None:
    return None


class TurnPipeline:
    """Stores inbound messages and runs their turns, strictly in order per conversation."""

    def __init__(self, db: Database, engine: Engine, *, locks: TurnLocks | None = None,
                 publish: Publisher = _no_publish, metrics: Metrics | None = None,
                 fast_understanding: bool = False) -> None:
        self.db = db
        self.engine = engine
        self.locks = locks or TurnLocks()
        self.publish = publish
        self.metrics = metrics
        #: understanding without slow calls (no LLM): a turn may hold the write lock throughout
        self.fast_understanding = fast_understanding

    def handle(self, inbound: Inbound) -> Handled:
        """Store ``inbound`` (committed before anything else) and answer it."""
        stored = store_inbound(self.db, inbound)
        if self.metrics and not stored.duplicate:
            self.metrics.messages_in.labels(inbound.channel).inc()
        answered = self.run_pending(stored.conversation_id)
        if stored.message_id in answered:
            return Handled(stored, answered[stored.message_id])
        return Handled(stored, replies_to(self.db, stored.message_id))

    def run_pending(self, conversation_id: int) -> dict[int, list[Message]]:
        """Run the turns of every stored customer message not yet handled, in seq order;
        return the replies written, by the id of the message they answer."""
        for _attempt in range(3):
            answered: dict[int, list[Message]] = {}
            try:
                with open_turn(self.db, self.locks, conversation_id, write=self.fast_understanding) as turn:
                    self._run(turn, answered)
                return answered
            except TurnConflict:
                log.info("routing.turn.conflict", extra={"conversation_id": conversation_id})
        return {}

    def _run(self, turn: Turn, answered: dict[int, list[Message]]) -> None:
        pending = turn.pending_customer_messages()
        if not pending:
            return
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
            for effect in result.effects:
                if effect.get("type") == "handoff":
                    status = "queued"
                    if self.metrics:
                        self.metrics.handoffs.labels(str(effect.get("reason"))).inc()
        self._write(turn, results, state, (before, status), answered)

    def _user_message(self, channel: str, thread_key: str, message: Message) -> UserMessage:
        payload = message.payload or {}
        text = message.text if message.text is not None else payload.get("payload")
        return UserMessage(text=text, sender_id=f"{channel}:{thread_key}", channel=channel,
                           metadata=dict(payload.get("metadata") or {}))

    def _write(self, turn: Turn, results: list[tuple[Message, TurnResult | None]],
               state: dict[str, Any], statuses: tuple[str, str], answered: dict[int, list[Message]]) -> None:
        before, status = statuses
        conversation = turn.conversation
        new_messages: list[Message] = []
        for message, result in results:
            answered[message.id] = []
            if result is not None:
                for bot in result.messages:
                    payload = {"buttons": bot.buttons, "utter_action": bot.utter_action}
                    if bot.custom is not None:
                        payload["custom"] = bot.custom
                    if bot.image:
                        payload["image"] = bot.image
                    reply = turn.append_message(OutgoingMessage("bot", bot.text, payload), in_reply_to=message.id,
                                                flush=False)
                    new_messages.append(reply)
                    answered[message.id].append(reply)
                turn.add_events(result.events + [{"event": "effect", **e} for e in result.effects], message.id)
            turn.mark_processed(message.seq)
        turn.save_state(state)
        if status != before:
            turn.set_status(status)
        where = {"conversation_id": conversation.id, "channel": conversation.channel,
                 "thread_key": conversation.thread_key}
        turn.session.flush()  # one batch INSERT for the replies; gives them their ids
        published = sorted([m for m, _ in results] + new_messages, key=lambda m: m.seq)
        snapshot = [_message_json(m) for m in published]
        changed = status != before
        turn.after_commit(lambda: self._publish(where, snapshot, status, changed))

    def _publish(self, where: dict[str, Any], messages: list[dict[str, Any]], status: str, changed: bool) -> None:
        for message in messages:
            self.publish("message", {**where, **message})
        if changed:
            self.publish("status", {**where, "status": status})


def _message_json(message: Message) -> dict[str, Any]:
    payload = message.payload or {}
    return {"id": message.id, "seq": message.seq, "role": message.role, "text": message.text,
            "buttons": payload.get("buttons") or [], "in_reply_to": message.in_reply_to,
            "created_at": message.created_at.isoformat() if message.created_at else None}
