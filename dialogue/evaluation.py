"""Evaluating conditions against a frame: ``slots`` plus the frame's ``context``."""

from __future__ import annotations

from typing import Any

from helpdesk.dialogue.conditions import parse_condition, render_template
from helpdesk.dialogue.conditions_parser import ConditionError
from helpdesk.dialogue.ports import Context


def frame_context(ctx: Context, frame: dict[str, Any]) -> dict[str, Any]:
    """``context`` for conditions and templates: the frame's fields (+ the frame below for collect)."""
    values: dict[str, Any] = {}
    if frame["flow_id"] == "pattern_collect_information":
        index = ctx.tracker.stack.index(frame) if frame in ctx.tracker.stack else -1
        if index > 0:
            values.update(_frame_fields(ctx.tracker.stack[index - 1]))
    values.update(_frame_fields(frame))
    return values


def _frame_fields(frame: dict[str, Any]) -> dict[str, Any]:
    return {"frame_id": frame["frame_id"], "flow_id": frame["flow_id"], "step_id": frame["step_id"],
            "frame_type": frame["frame_type"], "type": frame["type"], **frame["context"]}


def evaluate(source: str | None, condition: Any, ctx: Context, context: dict[str, Any], *,
             strict: bool = False) -> bool:
    """Evaluate a condition, rendering a templated one against the frame context first."""
    if condition is None:
        if source is None:
            return True
        try:
            condition = parse_condition(render_template(source, {"context": context}))
        except ConditionError:
            if strict:
                raise
            return False
    if strict:
        return bool(condition.evaluate_strict(ctx.tracker.slots, context))
    return bool(condition.evaluate(ctx.tracker.slots, context))
