"""Rasa's command text syntax (v1 ``StartFlow(x)`` and v2/v3 ``start flow x``), for e2e tests."""

from __future__ import annotations

import re

from helpdesk.dialogue.commands import (
    CancelFlow,
    CannotHandle,
    ChitChat,
    Clarify,
    Command,
    CommandFormatError,
    HumanHandoff,
    KnowledgeAnswer,
    RepeatBotMessages,
    SetSlot,
    SkipQuestion,
    StartFlow,
)
from helpdesk.dialogue.commands.set_slot import EXTRACTOR_LLM

_LEAD = r"^[\s\-*\d.)•]*"
_NAME = r"['\"`]?([A-Za-z0-9_\-]+)['\"`]?"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(_LEAD + r"start flow " + _NAME + r"\s*$", re.I), "start"),
    (re.compile(_LEAD + r"StartFlow\(\s*" + _NAME + r"\s*\)\s*$"), "start"),
    (re.compile(_LEAD + r"set slot " + _NAME + r"\s+(.+?)\s*$", re.I), "set"),
    (re.compile(_LEAD + r"SetSlot\(\s*" + _NAME + r"\s*,\s*(.*?)\s*\)\s*$"), "set"),
    (re.compile(_LEAD + r"(?:disambiguate flows|clarify flows|clarify)\s+(.+?)\s*$", re.I), "clarify"),
    (re.compile(_LEAD + r"Clarify\(\s*(.*?)\s*\)\s*$"), "clarify"),
]
_SIMPLE: dict[str, type[Command]] = {
    "cancel flow": CancelFlow, "cancelflow()": CancelFlow,
    "offtopic reply": ChitChat, "chitchat": ChitChat, "chitchat()": ChitChat,
    "provide info": KnowledgeAnswer, "search and reply": KnowledgeAnswer, "searchandreply()": KnowledgeAnswer,
    "knowledge": KnowledgeAnswer, "knowledge()": KnowledgeAnswer,
    "skip question": SkipQuestion, "skipquestion()": SkipQuestion,
    "repeat message": RepeatBotMessages, "repeat": RepeatBotMessages,
    "repeatlastbotmessages()": RepeatBotMessages,
    "cannot handle": CannotHandle, "cannothandle()": CannotHandle,
    "human handoff": HumanHandoff, "humanhandoff()": HumanHandoff,
}


def parse_command_text(line: str) -> Command:
    """Parse one command line; raise CommandFormatError when it is not a known command."""
    for pattern, kind in _PATTERNS:
        match = pattern.match(line)
        if not match:
            continue
        if kind == "start":
            return StartFlow(match.group(1))
        if kind == "set":
            return SetSlot(match.group(1), _value(match.group(2)), EXTRACTOR_LLM)
        return Clarify(tuple(n.strip("'\"` ") for n in re.split(r"[\s,]+", match.group(1)) if n.strip("'\"` ")))
    key = re.sub(_LEAD, "", line).strip().strip("'\"`").lower()
    if key in _SIMPLE:
        return _SIMPLE[key]()
    raise CommandFormatError(f"cannot parse command {line!r}")


def _value(raw: str) -> object:
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text
