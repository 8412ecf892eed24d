"""The offline command generator: understanding without a model or a network (DESIGN §3, item 2).

A message goes through four stages; the first that produces commands wins:

1. conversation phrases: repeat, skip, a clear answer to a yes/no or options question, cancel,
   hand-off, small talk;
2. corrections: a slot of an active flow named together with a new value ("my order number is
   actually A1003", "change the email to x@y.z");
3. the answer to the open question, typed by the slot (or a switch to another flow the message
   clearly asks for);
4. flow matching on examples, name and description (:class:`FlowMatcher`): start the best flow,
   filling its slots the message already states, or ask which of two close flows was meant.

Anything left is small talk, a question for the knowledge base, or "cannot handle".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dialogue.commands import (
    CancelFlow,
    CannotHandle,
    ChitChat,
    Clarify,
    Command,
    HumanHandoff,
    KnowledgeAnswer,
    RepeatBotMessages,
    SetSlot,
    SkipQuestion,
    StartFlow,
)
from dialogue.domain import Domain
from dialogue.flows import Flow, FlowsList
from dialogue.generators.extractors import extract_answer, extract_bool, extract_mentioned, match_categorical, slot_kind
from dialogue.generators.phrases import (
    is_cancel,
    is_chitchat,
    is_dismissal,
    is_handoff,
    is_question,
    is_repeat,
    is_skip,
)
from dialogue.generators.text_match import FlowMatcher, FlowScore, clean_text, terms
from dialogue.tracker import DialogueTracker

EXTRACTOR = "LLM"
#: words of slot names too common to show which slot a message talks about
GENERIC_NAME_WORDS = frozenset({"new", "current", "old", "number", "id", "confirm", "customer", "value"})
_GENERIC_TERMS = frozenset(t for w in GENERIC_NAME_WORDS for t in terms(w))


@dataclass(frozen=True)
class Thresholds:
    """Scores (0..1, see :class:`FlowMatcher`) at which flows are started or offered."""

    #: a flow starts when its score reaches this
    start: float = 0.4
    #: while a question is open, a free-text answer loses to a flow only this strong
    strong: float = 0.6
    #: flows within this distance of the best are offered together (clarify)
    clarify_margin: float = 0.05
    #: at most this many flows are offered when clarifying
    max_options: int = 3


@dataclass
class _Turn:
    """One message with what the stages share about it."""

    text: str
    clean: str
    tracker: DialogueTracker
    asked: str | None
    active: Flow | None
    allowed: set[str]
    scores: list[FlowScore] | None = None
    #: the message's terms as the flow matcher reads them
    terms: list[str] = field(default_factory=list)


class OfflineCommandGenerator:
    """Deterministic, model-free understanding for assistants without an LLM key.

    Example::

        generator = OfflineCommandGenerator(assistant.flows, assistant.domain)
        generator.predict("where is my order A1001?", tracker, assistant.flows, assistant.domain)
        # [StartFlow("check_order_status"), SetSlot("order_number", "A1001", "LLM")]
    """

    def __init__(self, flows: FlowsList, domain: Domain, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._index(flows, domain)

    def _index(self, flows: FlowsList, domain: Domain) -> None:
        self._flows, self._domain = flows, domain
        startable = [f for f in flows.user_flows() if not f.link_only]
        self._matcher = FlowMatcher(startable)
        self._handoff_flows = {f.id for f in startable if _is_handoff_flow(f)}

    def predict(self, text: str, tracker: DialogueTracker, flows: FlowsList, domain: Domain) -> list[Command]:
        """Commands for one customer message (never empty)."""
        if flows is not self._flows or domain is not self._domain:
            self._index(flows, domain)
        turn = self._turn(text, tracker)
        if not turn.clean:
            return [CannotHandle()]
        for stage in (self._conversation, self._correction, self._answer, self._start):
            commands = stage(turn)
            if commands:
                return commands
        return [self._fallback(turn)]

    def scores(self, text: str, tracker: DialogueTracker) -> list[FlowScore]:
        """The startable flows' scores for ``text``, best first (for debugging and evaluation)."""
        return self._scores(self._turn(text, tracker))

    def _turn(self, text: str, tracker: DialogueTracker) -> _Turn:
        frame = tracker.active_user_frame()
        active = self._flows.get(frame["flow_id"]) if frame else None
        allowed = {f.id for f in self._flows.startable(tracker.slots)}
        return _Turn(text, clean_text(text), tracker, tracker.asked_slot(), active, allowed,
                     terms=self._matcher.message_terms(text))

    def _scores(self, turn: _Turn) -> list[FlowScore]:
        if turn.scores is None:
            turn.scores = self._matcher.scores_of_terms(turn.terms, turn.allowed)
        return turn.scores

    # --- stage 1: conversation phrases ---------------------------------------------------
    def _conversation(self, turn: _Turn) -> list[Command]:
        if is_repeat(turn.clean):
            return [RepeatBotMessages()]
        if turn.asked and turn.active and is_skip(turn.clean):
            return [SkipQuestion()]
        clear = self._clear_answer(turn)
        if clear is not None:
            return [SetSlot(str(turn.asked), clear, EXTRACTOR)]
        if is_cancel(turn.clean) and (turn.active or is_dismissal(turn.clean)):
            return [CancelFlow()] if turn.active else [CannotHandle()]
        if is_handoff(turn.clean):
            return [self._handoff(turn)]
        return [ChitChat()] if is_chitchat(turn.clean) else []

    def _clear_answer(self, turn: _Turn) -> Any:
        """A yes/no or a named option answering the open question, checked before cancel phrases
        ("no" is an answer, "never mind" is not; "I changed my mind" may be an option)."""
        if turn.asked is None:
            return None
        slot = self._domain.slots.get(turn.asked)
        kind = slot_kind(turn.asked, slot)
        if kind == "bool":
            return None if is_dismissal(turn.clean) else extract_bool(turn.text)
        if kind == "categorical" and slot is not None:
            return match_categorical(turn.text, slot.values, strict=True)
        return None

    def _handoff(self, turn: _Turn) -> Command:
        """The assistant's own hand-off flow when it has one that fits, else the hand-off pattern."""
        fitting = [s for s in self._scores(turn) if s.flow_id in self._handoff_flows]
        if fitting and fitting[0].score >= self.thresholds.start:
            return StartFlow(fitting[0].flow_id)
        return HumanHandoff()

    # --- stage 2: corrections -------------------------------------------------------------
    def _correction(self, turn: _Turn) -> list[Command]:
        """A SetSlot for the flow slot the message names with a new value, unless that is the
        asked one (most name words win, then the asked slot, then the later step)."""
        candidates = self._collectable(turn.tracker)
        if turn.asked and turn.asked not in candidates:
            candidates.append(turn.asked)
        best: tuple[int, bool, int, str, Any] | None = None
        for position, name in enumerate(candidates):
            hits = _name_hits(name, turn.terms)
            if not hits:
                continue
            value = extract_mentioned(name, self._domain.slots.get(name), turn.text, cue=True)
            ranked = (hits, name == turn.asked, position, name, value)
            new = value is not None and value != turn.tracker.slots.get(name)
            if new and (best is None or ranked[:3] > best[:3]):
                best = ranked
        if best is None or best[3] == turn.asked:
            return []
        return [SetSlot(best[3], best[4], EXTRACTOR)]

    def _collectable(self, tracker: DialogueTracker) -> list[str]:
        """Slots the user flows on the stack collect (not ask-before-filling), in step order."""
        names: list[str] = []
        for frame in tracker.user_frames():
            flow = self._flows.get(frame["flow_id"])
            for step in flow.collect_steps() if flow else []:
                if step.collect and not step.ask_before_filling and step.collect not in names:
                    names.append(step.collect)
        return names

    # --- stage 3: the answer to the open question -----------------------------------------
    def _answer(self, turn: _Turn) -> list[Command]:
        if turn.asked is None:
            return []
        slot = self._domain.slots.get(turn.asked)
        answer = extract_answer(turn.asked, slot, turn.text)
        if answer.confident and answer.value is not None:
            return [SetSlot(turn.asked, answer.value, EXTRACTOR), *self._extra_slots(turn)]
        switch = self._decide(turn, self.thresholds.strong)
        if switch:
            return switch
        if answer.value is not None:
            return [SetSlot(turn.asked, answer.value, EXTRACTOR)]
        if slot is not None and "other" in slot.values and self._free_answer(turn):
            return [SetSlot(turn.asked, "other", EXTRACTOR)]
        return []

    def _free_answer(self, turn: _Turn) -> bool:
        """A statement of a few words that matches no flow: an option the list does not name."""
        best = self._scores(turn)[0].score if self._scores(turn) else 0.0
        return len(turn.clean.split()) >= 2 and best < self.thresholds.start \
            and not is_question(turn.text, turn.clean)

    def _extra_slots(self, turn: _Turn) -> list[Command]:
        """Other unfilled slots of the active flow the answer also states, of another kind."""
        asked_kind = slot_kind(str(turn.asked), self._domain.slots.get(str(turn.asked)))
        names = [n for n in self._collectable(turn.tracker) if n != turn.asked
                 and turn.tracker.slots.get(n) is None
                 and slot_kind(n, self._domain.slots.get(n)) != asked_kind]
        return self._stated(turn, names)

    # --- stage 4: flow matching -----------------------------------------------------------
    def _start(self, turn: _Turn) -> list[Command]:
        return self._decide(turn, self.thresholds.start)

    def _decide(self, turn: _Turn, threshold: float) -> list[Command]:
        """StartFlow for a clear best flow, Clarify for close ones; nothing below ``threshold`` or
        when the message fits the active flow (about) best: it is about what is going on already."""
        ranked = [s for s in self._scores(turn) if s.score >= threshold]
        if not ranked:
            return []
        close = [s.flow_id for s in ranked if ranked[0].score - s.score <= self.thresholds.clarify_margin]
        if turn.active is not None and turn.active.id in close:
            return []
        if len(close) > 1:
            return [Clarify(tuple(close[: self.thresholds.max_options]))]
        flow = self._flows[ranked[0].flow_id]
        return [StartFlow(flow.id), *self._prefill(turn, flow)]

    def _prefill(self, turn: _Turn, flow: Flow) -> list[Command]:
        """Slots of a flow being started that the message states unambiguously."""
        names = [s.collect for s in flow.collect_steps()
                 if s.collect and not s.ask_before_filling and turn.tracker.slots.get(s.collect) is None]
        return self._stated(turn, list(dict.fromkeys(names)))

    def _stated(self, turn: _Turn, names: list[str]) -> list[Command]:
        """SetSlots for ``names`` whose value the message states; two slots of one kind (current
        and new e-mail) are ambiguous and left alone, except categorical slots (own values)."""
        kinds = [slot_kind(n, self._domain.slots.get(n)) for n in names]
        commands: list[Command] = []
        for name, kind in zip(names, kinds, strict=True):
            if name not in self._domain.slots or (kind != "categorical" and kinds.count(kind) > 1):
                continue
            value = extract_mentioned(name, self._domain.slots[name], turn.text)
            if value is not None:
                commands.append(SetSlot(name, value, EXTRACTOR))
        return commands

    def _fallback(self, turn: _Turn) -> Command:
        if is_question(turn.text, turn.clean):
            return KnowledgeAnswer()
        return CannotHandle()


def _name_hits(name: str, message_terms: list[str]) -> int:
    """How many words of a slot's name the message uses (0 unless one is distinctive)."""
    name_terms = set(terms(name.replace("_", " ")))
    hits = name_terms.intersection(message_terms)
    return len(hits) if hits - _GENERIC_TERMS else 0


def _is_handoff_flow(flow: Flow) -> bool:
    """A flow for reaching a person: its name or most of its examples ask for one."""
    if is_handoff(clean_text(flow.name)):
        return True
    examples = flow.examples
    return bool(examples) and sum(is_handoff(clean_text(e)) for e in examples) * 2 >= len(examples)
