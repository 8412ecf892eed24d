"""One way out: the typed outbound message, the typed bus events, and where each message goes.

Every bot, agent and system message is appended through :meth:`conversations.turn.Turn.append_message`.
Just before the turn commits, :class:`Delivery` — the one place that decides per channel — looks at
the conversation's channel:

* a **store-and-forward** channel (Slack, email, the test channel: registered with
  :meth:`Delivery.use_outbox`) gets one outbox row per message, in the same transaction as the
  message, carrying :meth:`OutboundMessage.to_json`; the outbox worker later calls the
  connector's ``Channel.deliver(OutboundMessage)`` with retries (see ``conversations.outbox``);
* a **live** channel (widget, Rasa socket.io, REST) gets nothing here: the turn publishes
  :class:`MessageEvent` on the bus after commit and the connector emits it to its sockets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from helpdesk.conversations.models import Conversation, Message

if TYPE_CHECKING:
    from helpdesk.conversations.turn import Turn

AuthorRole = Literal["bot", "agent", "system"]


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class FileRef:
    """An attachment a message carries (download it with ``conversations.attachments.load_attachment``)."""

    id: str
    name: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Author:
    role: AuthorRole
    """``bot``, ``agent`` (a person in the inbox) or ``system`` (queue notices)."""
    name: str | None = None
    """The display name (the agent's name); ``None`` for the bot unless the assistant names it."""


@dataclass(frozen=True)
class OutboundMessage:
    """One message to send to a customer, as a store-and-forward channel receives it."""

    conversation_id: int
    message_id: int
    seq: int
    """The message's place in its conversation: deliveries of one conversation come in seq order."""
    channel: str
    thread_key: str
    """The conversation's key in its channel (Slack channel+thread ts, email thread id…)."""
    author: Author
    text: str | None
    buttons: tuple[Button, ...] = ()
    attachments: tuple[FileRef, ...] = ()
    image: str | None = None
    custom: dict[str, Any] | None = None
    in_reply_to: int | None = None
    """Id of the customer message this answers (``None`` for unprompted agent or system messages)."""
    reply_to_external_id: str | None = None
    """The channel's own id of the answered message (Slack ``ts``, email ``Message-ID``), else the
    external id of the conversation's latest customer message — what threading headers need."""

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id, "message_id": self.message_id, "seq": self.seq,
            "channel": self.channel, "thread_key": self.thread_key,
            "author": {"role": self.author.role, "name": self.author.name}, "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
            "attachments": [vars(a) for a in self.attachments], "image": self.image, "custom": self.custom,
            "in_reply_to": self.in_reply_to, "reply_to_external_id": self.reply_to_external_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboundMessage:
        author = data.get("author") or {}
        return cls(
            conversation_id=int(data["conversation_id"]), message_id=int(data["message_id"]), seq=int(data["seq"]),
            channel=str(data["channel"]), thread_key=str(data["thread_key"]),
            author=Author(author.get("role", "bot"), author.get("name")), text=data.get("text"),
            buttons=tuple(Button(str(b["title"]), str(b["payload"])) for b in data.get("buttons") or ()),
            attachments=tuple(FileRef(**a) for a in data.get("attachments") or ()), image=data.get("image"),
            custom=data.get("custom"), in_reply_to=data.get("in_reply_to"),
            reply_to_external_id=data.get("reply_to_external_id"),
        )

    @classmethod
    def from_row(cls, conversation: Conversation, message: Message,
                 reply_to_external_id: str | None = None) -> OutboundMessage:
        payload = message.payload or {}
        role: AuthorRole = message.role if message.role in ("bot", "agent", "system") else "system"  # type: ignore[assignment]
        return cls(
            conversation_id=conversation.id, message_id=message.id, seq=message.seq, channel=conversation.channel,
            thread_key=conversation.thread_key, author=Author(role, message.author), text=message.text,
            buttons=_buttons(payload.get("buttons")), attachments=_files(payload.get("attachments")),
            image=payload.get("image") or None, custom=payload.get("custom"), in_reply_to=message.in_reply_to,
            reply_to_external_id=reply_to_external_id,
        )


def _buttons(raw: Any) -> tuple[Button, ...]:
    return tuple(Button(str(b["title"]), str(b.get("payload", b["title"])))
                 for b in raw or () if isinstance(b, dict) and "title" in b)


def _files(raw: Any) -> tuple[FileRef, ...]:
    return tuple(FileRef(str(a["id"]), str(a.get("name", "")), str(a.get("content_type", "")), int(a.get("size", 0)))
                 for a in raw or () if isinstance(a, dict) and "id" in a)


# --- the bot payload: built here only -------------------------------------------------------------

def bot_payload(buttons: list[dict[str, Any]], utter_action: str | None, *, image: str | None = None,
                custom: Any = None) -> dict[str, Any]:
    """What a bot message stores in ``Message.payload`` (the dialogue engine's ``BotMessage`` fields)."""
    payload: dict[str, Any] = {"buttons": buttons, "utter_action": utter_action}
    if custom is not None:
        payload["custom"] = custom
    if image:
        payload["image"] = image
    return payload


# --- typed bus events ------------------------------------------------------------------------------

class Where(TypedDict):
    conversation_id: int
    channel: str
    thread_key: str


class MessageEvent(Where, total=False):
    """Bus ``message``: a message was committed to a conversation (every role)."""

    id: int
    seq: int
    role: str
    text: str | None
    buttons: list[dict[str, Any]]
    in_reply_to: int | None
    created_at: str | None
    author: dict[str, Any] | None


class StatusEvent(Where, total=False):
    """Bus ``status``: the conversation's status (plus queue position / agent while handed off)."""

    status: str
    position: int
    agent: dict[str, Any] | None


def where(conversation: Conversation) -> Where:
    return {"conversation_id": conversation.id, "channel": conversation.channel,
            "thread_key": conversation.thread_key}


def message_event(conversation: Conversation, message: Message) -> MessageEvent:
    """The bus ``message`` event of a message — built here only."""
    payload = message.payload or {}
    event: MessageEvent = {
        **where(conversation), "id": message.id, "seq": message.seq, "role": message.role, "text": message.text,
        "buttons": payload.get("buttons") or [], "in_reply_to": message.in_reply_to,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "author": {"name": message.author} if message.author else None,
    }
    return event


# --- the decision ------------------------------------------------------------------------------------

@dataclass
class Delivery:
    """Decides per channel how a turn's new messages leave (see the module docstring).

    ``wake`` callbacks run after a commit that queued outbox rows (the embedded outbox worker's
    ``notify``), so delivery starts at once instead of at the next poll.
    """

    outbox_channels: set[str] = field(default_factory=set)
    wake: list[Callable[[], object]] = field(default_factory=list)
    #: connectors that may also carry messages of other channels' conversations (the email
    #: follow-up of a widget conversation): called with the turn and its new outgoing messages
    #: before the commit, they may add outbox rows and return whether they did
    forwarders: list[Callable[[Turn, Sequence[Message]], bool]] = field(default_factory=list)
    #: connectors that keep a notice of a conversation elsewhere (the Slack agents' handoff card):
    #: called with the turn, a bus event's name and data the turn publishes (``handoff``) before
    #: the commit, they may add outbox rows (payloads with a ``"notice"`` key) and return whether they did
    notices: list[Callable[[Turn, str, dict[str, Any]], bool]] = field(default_factory=list)

    def use_outbox(self, channel: str) -> None:
        """Deliver ``channel``'s bot, agent and system messages through the outbox."""
        self.outbox_channels.add(channel)

    def stores_and_forwards(self, channel: str) -> bool:
        return channel in self.outbox_channels

    def notice(self, turn: Turn, event: str, data: dict[str, Any]) -> None:
        """Let the notice keepers queue their outbox rows for ``event`` (in the turn's transaction)."""
        if self._keep(turn, event, data):
            for wake in self.wake:
                turn.after_commit(wake)

    def _keep(self, turn: Turn, event: str, data: dict[str, Any]) -> bool:
        queued = False
        for keep in self.notices:
            queued = bool(keep(turn, event, data)) or queued
        return queued

    def before_commit(self, turn: Turn, messages: Sequence[Message]) -> None:
        """Queue an outbox row per outgoing message of a store-and-forward conversation (same
        transaction); the notice keepers see the turn's customer and agent messages (``message``
        events: the Slack agents' card thread mirrors them)."""
        queued = self._mirror(turn, messages)
        conversation = turn.conversation
        outgoing = [m for m in messages if m.role != "customer"]
        if outgoing and self.stores_and_forwards(conversation.channel):
            turn.session.flush()  # the messages' ids
            answered = turn.external_ids({m.in_reply_to for m in outgoing if m.in_reply_to})
            latest = turn.latest_customer_external_id()
            for message in sorted(outgoing, key=lambda m: m.seq):
                reply_to = answered.get(message.in_reply_to) if message.in_reply_to else None
                out = OutboundMessage.from_row(conversation, message, reply_to or latest)
                turn.enqueue_outbox(conversation.channel, conversation.thread_key, out.to_json(), message.id)
            queued = True
        if self.forwarders and outgoing:
            turn.session.flush()
            for forward in self.forwarders:
                queued = bool(forward(turn, outgoing)) or queued
        if queued:
            for wake in self.wake:
                turn.after_commit(wake)

    def _mirror(self, turn: Turn, messages: Sequence[Message]) -> bool:
        shown = sorted((m for m in messages if m.role in ("customer", "agent")), key=lambda m: m.seq)
        if not self.notices or not shown:
            return False
        if any(m.id is None for m in shown):
            turn.session.flush()  # the messages' ids
        queued = False
        for message in shown:
            queued = self._keep(turn, "message", dict(message_event(turn.conversation, message))) or queued
        return queued
