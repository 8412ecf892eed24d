"""The small action API an assistant's ``actions.py`` is written against.

It mirrors rasa-sdk's surface (``Action``, ``Tracker``, ``CollectingDispatcher`` and the event
helpers) so that an action written for a Rasa action server can be moved into an assistant's
``actions.py`` by changing one import, and so that remote and local actions produce the same
event dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EventDict = dict[str, Any]


def SlotSet(key: str, value: Any = None) -> EventDict:  # noqa: N802 - rasa-sdk's name
    """An event that sets slot ``key`` to ``value``."""
    return {"event": "slot", "name": key, "value": value}


def AllSlotsReset() -> EventDict:  # noqa: N802
    """An event that resets every slot to its initial value."""
    return {"event": "reset_slots"}


def FollowupAction(name: str) -> EventDict:  # noqa: N802
    """An event asking the engine to run action ``name`` next."""
    return {"event": "followup", "name": name}


def BotUttered(text: str | None = None, data: dict[str, Any] | None = None) -> EventDict:  # noqa: N802
    """An event that makes the bot say ``text``."""
    return {"event": "bot", "text": text, "data": data or {}}


def Restarted() -> EventDict:  # noqa: N802
    """An event that restarts the conversation."""
    return {"event": "restart"}


@dataclass
class Tracker:
    """A read-only view of the conversation handed to actions."""

    sender_id: str
    slots: dict[str, Any]
    latest_message: dict[str, Any] = field(default_factory=dict)
    events: list[EventDict] = field(default_factory=list)
    stack: list[dict[str, Any]] = field(default_factory=list)
    latest_input_channel: str | None = None
    active_flow: str | None = None
    #: the NLU-based form running (rasa-sdk's ``tracker.active_loop["name"]``)
    active_loop: str | None = None

    def get_slot(self, key: str) -> Any:
        """The current value of slot ``key`` (None when unset or unknown)."""
        return self.slots.get(key)

    def current_slot_values(self) -> dict[str, Any]:
        """All slot values."""
        return dict(self.slots)

    def get_latest_input_channel(self) -> str | None:
        """The channel of the latest user message."""
        return self.latest_input_channel

    @property
    def latest_text(self) -> str | None:
        """Text of the latest user message."""
        return self.latest_message.get("text")


class CollectingDispatcher:
    """Collects the messages an action wants to send."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def utter_message(
        self,
        text: str | None = None,
        *,
        response: str | None = None,
        buttons: list[dict[str, Any]] | None = None,
        image: str | None = None,
        json_message: dict[str, Any] | None = None,
        attachment: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Send ``text`` or the domain response ``response`` (rendered with ``kwargs``)."""
        message: dict[str, Any] = {"text": text, "buttons": buttons or [], "response": response}
        if image:
            message["image"] = image
        if json_message:
            message["custom"] = json_message
        if attachment:
            message["attachment"] = attachment
        message.update(kwargs)
        self.messages.append(message)


class Action:
    """Base class of a Python action: override ``name`` and ``run``."""

    def name(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventDict]:  # pragma: no cover - abstract
        raise NotImplementedError


ActionFunction = Callable[[CollectingDispatcher, Tracker, dict[str, Any]], list[EventDict]]


def action(name: str) -> Callable[[ActionFunction], ActionFunction]:
    """Register a plain function as the action ``name`` (``@action("action_x")``)."""

    def mark(fn: ActionFunction) -> ActionFunction:
        fn.action_name = name  # type: ignore[attr-defined]
        return fn

    return mark
