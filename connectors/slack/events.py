"""Slack's documented payloads turned into a few typed events (no I/O, no database).

Events API bodies (``event_callback``) carry ``message`` (plain, thread reply, DM, file share,
edit ``message_changed``, deletion ``message_deleted``, bot messages), ``app_mention`` and
``reaction_added``; interactivity bodies (``payload=`` form field) carry ``block_actions``
(button clicks) and ``message_action`` (message shortcuts). Anything else parses to
:class:`Ignored` with a reason, so nothing unexpected raises.
See https://docs.slack.dev/reference/events and https://docs.slack.dev/reference/interaction-payloads
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: message subtypes that are a person saying something (others are joins, topic changes…)
_SPOKEN_SUBTYPES = {None, "file_share", "thread_broadcast", "me_message"}


@dataclass(frozen=True)
class Identity:
    """Who we are in the workspace (from ``auth.test``), to recognise our own messages."""

    team_id: str
    user_id: str
    bot_id: str | None = None
    app_id: str | None = None


@dataclass(frozen=True)
class Posted:
    """A person wrote a message (top level, in a thread, in a DM, or mentioning the app)."""

    event_id: str
    channel: str
    user: str
    ts: str
    text: str
    """Raw mrkdwn, as Slack sent it (see ``mrkdwn.to_plain``)."""
    thread_ts: str | None = None
    """The thread's root ts when the message is a reply (None at top level, or for a root)."""
    team: str | None = None
    """The author's workspace (``user_team``, else ``team``): differs from ours in Slack Connect."""
    channel_type: str | None = None
    """``channel``, ``group``, ``im``, ``mpim`` (None for app_mention, which has none)."""
    files: tuple[dict[str, Any], ...] = ()
    mention: bool = False
    """True for an ``app_mention`` event (Slack also sends the same message as ``message``)."""

    @property
    def root_ts(self) -> str:
        """The ts of the thread's first message (the message itself at top level)."""
        return self.thread_ts or self.ts

    @property
    def is_dm(self) -> bool:
        return self.channel_type == "im" or self.channel.startswith("D")

    @property
    def message_key(self) -> str:
        """One id per Slack message, so ``message`` and ``app_mention`` of it store once."""
        return f"slack:{self.channel}:{self.ts}"


@dataclass(frozen=True)
class Edited:
    """A message was edited (``message_changed``)."""

    event_id: str
    channel: str
    user: str
    ts: str
    text: str
    edited_ts: str
    thread_ts: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class Deleted:
    """A message was deleted (``message_deleted``)."""

    event_id: str
    channel: str
    ts: str
    thread_ts: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class Reacted:
    """Someone added an emoji reaction to a message (``reaction_added``)."""

    event_id: str
    channel: str
    user: str
    reaction: str
    ts: str
    """The ts of the message reacted to."""
    item_user: str | None = None


@dataclass(frozen=True)
class Clicked:
    """A button of one of our messages was clicked (``block_actions``) or a message shortcut
    was used on a message (``message_action``: ``action_id`` is its callback id)."""

    user: str
    channel: str
    action_id: str
    value: str
    message_ts: str
    thread_ts: str | None = None
    team: str | None = None
    message_text: str = ""
    message_user: str | None = None
    action_ts: str = ""
    title: str = ""
    """The clicked button's text."""

    @property
    def root_ts(self) -> str:
        return self.thread_ts or self.message_ts

    @property
    def click_key(self) -> str:
        """One id per click (Slack does not retry interactions, but a double click sends two)."""
        return f"slack-click:{self.channel}:{self.message_ts}:{self.action_id}:{self.action_ts}"


@dataclass(frozen=True)
class Ignored:
    """Nothing to do, and why (a bot echo, our own message, a channel join, an unknown type)."""

    reason: str
    event_id: str | None = None


@dataclass(frozen=True)
class UrlVerification:
    """Slack checking the Request URL: answer with the challenge."""

    challenge: str


SlackEvent = Posted | Edited | Deleted | Reacted | Clicked | Ignored | UrlVerification


def parse_event(body: dict[str, Any], me: Identity | None = None) -> SlackEvent:
    """One Events API body → a typed event; ``me`` recognises our own messages."""
    kind = body.get("type")
    if kind == "url_verification":
        return UrlVerification(str(body.get("challenge") or ""))
    if kind != "event_callback" or not isinstance(body.get("event"), dict):
        return Ignored(f"unsupported body type {kind!r}")
    event_id = str(body.get("event_id") or "")
    event: dict[str, Any] = body["event"]
    etype = event.get("type")
    if etype in ("message", "app_mention"):
        return _message(event_id, event, me, mention=etype == "app_mention")
    if etype == "reaction_added":
        return _reaction(event_id, event, me)
    return Ignored(f"unsupported event {etype!r}", event_id)


def _is_ours_or_bot(event: dict[str, Any], me: Identity | None) -> str | None:
    if event.get("bot_id") or event.get("subtype") == "bot_message" or event.get("bot_profile"):
        if me and (event.get("bot_id") == me.bot_id or event.get("app_id") == me.app_id):
            return "own message"
        return "bot message"
    if me and event.get("user") == me.user_id:
        return "own message"
    return None


def _message(event_id: str, event: dict[str, Any], me: Identity | None, *, mention: bool) -> SlackEvent:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return _edited(event_id, event, me)
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        return Deleted(event_id, str(event.get("channel") or ""), str(event.get("deleted_ts") or ""),
                       previous.get("thread_ts"), previous.get("user"))
    reason = _is_ours_or_bot(event, me)
    if reason:
        return Ignored(reason, event_id)
    if subtype not in _SPOKEN_SUBTYPES:
        return Ignored(f"message subtype {subtype!r}", event_id)
    if not event.get("user") or not event.get("channel") or not event.get("ts"):
        return Ignored("message without user, channel or ts", event_id)
    thread_ts = event.get("thread_ts")
    return Posted(
        event_id=event_id, channel=str(event["channel"]), user=str(event["user"]), ts=str(event["ts"]),
        text=str(event.get("text") or ""), thread_ts=thread_ts if thread_ts != event["ts"] else None,
        team=event.get("user_team") or event.get("team"), channel_type=event.get("channel_type"),
        files=tuple(f for f in event.get("files") or () if isinstance(f, dict)), mention=mention)


def _edited(event_id: str, event: dict[str, Any], me: Identity | None) -> SlackEvent:
    message = event.get("message") or {}
    previous = event.get("previous_message") or {}
    if _is_ours_or_bot(message, me):
        return Ignored("edit of a bot message", event_id)
    edited = message.get("edited") or {}
    if not edited or message.get("text") == previous.get("text"):
        # Slack also sends message_changed when it unfurls a link or a reply is added
        return Ignored("message_changed without a new text", event_id)
    thread_ts = message.get("thread_ts")
    return Edited(event_id, str(event.get("channel") or ""), str(message.get("user") or ""),
                  str(message.get("ts") or ""), str(message.get("text") or ""), str(edited.get("ts") or ""),
                  thread_ts if thread_ts != message.get("ts") else None,
                  message.get("user_team") or message.get("team"))


def _reaction(event_id: str, event: dict[str, Any], me: Identity | None) -> SlackEvent:
    item = event.get("item") or {}
    if item.get("type") != "message":
        return Ignored("reaction to something other than a message", event_id)
    if me and event.get("user") == me.user_id:
        return Ignored("own reaction", event_id)
    return Reacted(event_id, str(item.get("channel") or ""), str(event.get("user") or ""),
                   str(event.get("reaction") or ""), str(item.get("ts") or ""), event.get("item_user"))


def parse_interaction(payload: dict[str, Any]) -> SlackEvent:
    """One interactivity payload (the JSON of the ``payload`` form field) → a typed event."""
    kind = payload.get("type")
    user = payload.get("user") or {}
    team = user.get("team_id") or (payload.get("team") or {}).get("id")
    if kind == "block_actions":
        actions = payload.get("actions") or []
        container = payload.get("container") or {}
        message = payload.get("message") or {}
        channel = (payload.get("channel") or {}).get("id") or container.get("channel_id")
        if not actions or not channel or not user.get("id"):
            return Ignored("block_actions without an action, a channel or a user")
        action = actions[0]
        ts = str(container.get("message_ts") or message.get("ts") or "")
        thread_ts = container.get("thread_ts") or message.get("thread_ts")
        title = (action.get("text") or {}).get("text") or action.get("value") or ""
        return Clicked(str(user["id"]), str(channel), str(action.get("action_id") or ""),
                       str(action.get("value") or ""), ts, thread_ts if thread_ts != ts else None, team,
                       str(message.get("text") or ""), message.get("user"), str(action.get("action_ts") or ""),
                       str(title))
    if kind == "message_action":
        message = payload.get("message") or {}
        channel = (payload.get("channel") or {}).get("id")
        if not channel or not user.get("id") or not message.get("ts"):
            return Ignored("message_action without a channel, a user or a message")
        ts = str(message["ts"])
        thread_ts = message.get("thread_ts")
        return Clicked(str(user["id"]), str(channel), str(payload.get("callback_id") or ""), "", ts,
                       thread_ts if thread_ts != ts else None, team, str(message.get("text") or ""),
                       message.get("user"), str(payload.get("action_ts") or ""))
    return Ignored(f"unsupported interaction {kind!r}")
