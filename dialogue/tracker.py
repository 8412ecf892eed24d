"""The working state of one conversation during a turn: slots, the dialogue stack, and events.

The persisted form is a plain JSON document (``DialogueTracker.to_state``); a turn loads it,
mutates this object through commands and steps, and saves it back. Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.domain import Domain

STATE_VERSION = 1
HISTORY_TURNS = 10
USER_FRAME = "flow"


@dataclass
class BotMessage:
    """One message the assistant sends."""

    text: str | None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    utter_action: str | None = None
    custom: dict[str, Any] | None = None
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "buttons": self.buttons}
        if self.utter_action:
            out["utter_action"] = self.utter_action
        if self.custom is not None:
            out["custom"] = self.custom
        if self.image:
            out["image"] = self.image
        return out


@dataclass
class DialogueTracker:
    """Mutable view of the dialogue state plus everything that happened in the current turn."""

    sender_id: str
    slots: dict[str, Any]
    stack: list[dict[str, Any]] = field(default_factory=list)
    next_frame: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)
    last_bot_messages: list[dict[str, Any]] = field(default_factory=list)
    turn: int = 0
    #: the NLU-based form running (Rasa's ``active_loop``), see :mod:`dialogue.forms`
    active_loop: str | None = None
    latest_message: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    messages: list[BotMessage] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    #: per-turn notes between commands (not persisted)
    scratch: dict[str, Any] = field(default_factory=dict)
    #: set by the handoff pattern: people have the conversation, the assistant says nothing more
    #: this turn (the flow below the pattern would re-ask its question); not persisted
    handed_over: bool = False

    # --- persistence -------------------------------------------------------------------
    @classmethod
    def from_state(cls, sender_id: str, state: dict[str, Any] | None, domain: Domain) -> DialogueTracker:
        """Load a tracker from its JSON document; new conversations start at the initial slots."""
        state = state or {}
        # a turn changes slot values and frames in place: a JSON round trip copies them (faster
        # than copy.deepcopy); past turns and the last bot messages are only appended to or
        # replaced, so a copy of their list will do (they are half the document)
        slot_values, stack = json.loads(json.dumps([state.get("slots") or {}, state.get("stack") or []]))
        slots = domain.initial_slots()
        slots.update(slot_values)
        return cls(
            sender_id=sender_id,
            slots=slots,
            stack=stack,
            next_frame=int(state.get("next_frame", 1)),
            history=list(state.get("history") or []),
            last_bot_messages=list(state.get("last_bot_messages") or []),
            turn=int(state.get("turn", 0)),
            active_loop=state.get("active_loop"),
        )

    def to_state(self) -> dict[str, Any]:
        """The JSON document to persist: O(1) in the length of the conversation.

        It shares the tracker's containers: the tracker is done with once its turn ends."""
        state = {
            "version": STATE_VERSION,
            "slots": self.slots,
            "stack": self.stack,
            "next_frame": self.next_frame,
            "history": self.history[-HISTORY_TURNS:],
            "last_bot_messages": self.last_bot_messages,
            "turn": self.turn,
        }
        if self.active_loop:
            state["active_loop"] = self.active_loop
        return state

    # --- events ------------------------------------------------------------------------
    def emit(self, event: str, **data: Any) -> None:
        self.events.append({"event": event, **data})

    def set_slot(self, name: str, value: Any, *, filled_by: str | None = None, reset: bool = False) -> None:
        """Set a slot and record the ``slot`` event (also when the value is unchanged)."""
        self.slots[name] = value
        event: dict[str, Any] = {"name": name, "value": value}
        if filled_by:
            event["filled_by"] = filled_by
        if reset:
            event["metadata"] = {"reset": True}
        self.emit("slot", **event)

    def say(self, message: BotMessage) -> None:
        if self.handed_over:
            self.emit("bot_silenced", text=message.text,
                      metadata={"utter_action": message.utter_action} if message.utter_action else {})
            return
        self.messages.append(message)
        self.emit("bot", text=message.text, data={"buttons": message.buttons, **(
            {"custom": message.custom} if message.custom is not None else {})},
                  metadata={"utter_action": message.utter_action} if message.utter_action else {})

    # --- stack -------------------------------------------------------------------------
    def push(self, flow_id: str, *, frame_type: str = "regular", kind: str = USER_FRAME,
             context: dict[str, Any] | None = None, below_top: bool = False) -> dict[str, Any]:
        """Push a frame that will start ``flow_id`` at its first step."""
        frame = {"frame_id": f"f{self.next_frame}", "type": kind, "flow_id": flow_id, "step_id": "START",
                 "frame_type": frame_type, "context": context or {}, "collected": []}
        self.next_frame += 1
        if below_top and self.stack:
            self.stack.insert(len(self.stack) - 1, frame)
        else:
            self.stack.append(frame)
        return frame

    @property
    def top(self) -> dict[str, Any] | None:
        return self.stack[-1] if self.stack else None

    def user_frames(self) -> list[dict[str, Any]]:
        return [f for f in self.stack if f["type"] == USER_FRAME]

    def top_user_frame(self) -> dict[str, Any] | None:
        frames = self.user_frames()
        return frames[-1] if frames else None

    def active_user_frame(self) -> dict[str, Any] | None:
        """The top user flow, attributing a called child to its caller (Rasa's ``current_flow``)."""
        frames = self.user_frames()
        for frame in reversed(frames):
            if frame["frame_type"] != "call":
                return frame
        return frames[-1] if frames else None

    def frame_by_id(self, frame_id: str) -> dict[str, Any] | None:
        return next((f for f in self.stack if f["frame_id"] == frame_id), None)

    def remove_frame(self, frame: dict[str, Any]) -> None:
        self.stack = [f for f in self.stack if f["frame_id"] != frame["frame_id"]]

    def flow_on_stack(self, flow_id: str) -> dict[str, Any] | None:
        return next((f for f in reversed(self.stack) if f["flow_id"] == flow_id), None)

    def collecting_frame(self) -> dict[str, Any] | None:
        """The collect-information pattern frame that is waiting for an answer, if it is on top."""
        top = self.top
        if top and top["flow_id"] == "pattern_collect_information":
            return top
        return None

    def asked_slot(self) -> str | None:
        """The slot the assistant is waiting for: a collect step's, or one asked again after a
        domain ``validation`` rejected its value."""
        top = self.top
        if top is None:
            return None
        if top["flow_id"] == "pattern_collect_information":
            return top["context"].get("collect")
        if top["flow_id"] == "pattern_validate_slot":
            return top["context"].get("validate")
        return None
