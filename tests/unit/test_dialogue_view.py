"""The read-only view of the dialogue state that handoff and the agent API read."""

from __future__ import annotations

import pytest

from helpdesk.dialogue.view import DialogueView

STATE = {
    "slots": {"order_id": "A1", "email": None, "continue_conversation": True},
    "stack": [
        {"frame_id": "f1", "type": "flow", "flow_id": "order_status", "step_id": "ask", "context": {}},
        {"frame_id": "f2", "type": "pattern", "flow_id": "pattern_collect_information", "step_id": "START",
         "context": {"collect": "email"}},
    ],
}


def test_the_view_shows_slots_flows_and_the_question_being_asked() -> None:
    view = DialogueView.of(STATE)
    assert view.stack_flows == ("order_status", "pattern_collect_information")
    assert view.active_flow == "order_status"
    assert view.asked_slot == "email"
    assert view.filled_slots(exclude={"continue_conversation"}) == {"order_id": "A1"}


def test_the_view_is_read_only_and_a_copy() -> None:
    state = {"slots": {"a": 1}, "stack": []}
    view = DialogueView.of(state)
    with pytest.raises(TypeError):
        view.slots["a"] = 2  # type: ignore[index]
    state["slots"]["a"] = 3
    assert view.slots["a"] == 1


def test_an_empty_or_odd_state_gives_an_empty_view() -> None:
    for state in (None, {}, {"stack": ["junk", None], "slots": None}):
        view = DialogueView.of(state)
        assert (view.stack_flows, view.active_flow, view.asked_slot, dict(view.slots)) == ((), None, None, {})
