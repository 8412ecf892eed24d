"""The offline command generator: understanding without a model or a network (DESIGN §3, item 2).

A message goes through four stages; the first that produces commands wins:

1. conversation phrases: repeat, skip, a clear answer to a yes/no or options question, cancel,
   hand-off, small talk;
2. corrections: a slot of an active flow named together with a new value ("my order number is
   actually A1003", "change the email to x@y.z");
3. the answer to the open question, typed by the slot (or a switch to another flow the message
   clearly asks for);
4. flow classification (:class:`~dialogue.generators.classifier.FlowClassifier`, trained when
   the generator is built from the flows' examples, names and descriptions, the assistant's NLU
   data and e2e tests): start the best flow when it is probable enough, filling the slots of
   it and of the flows it calls that the message states, or ask which of two close flows was
   meant.

Anything left is small talk, a question for the knowledge base, or "cannot handle".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from helpdesk.dialogue.commands import (
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
from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.flows import Flow, FlowsList
from helpdesk.dialogue.generators.classifier import OUT_OF_SCOPE, FlowClassifier
from helpdesk.dialogue.generators.extractors import (
    extract_answer,
    extract_bool,
    extract_mentioned,
    looks_like_answer,
    match_categorical,
    old_new_values,
    slot_kind,
)
from helpdesk.dialogue.generators.phrases import (
    is_cancel,
    is_chitchat,
    is_dismissal,
    is_handoff,
    is_question,
    is_repeat,
    is_skip,
    without_dismissal,
)
from helpdesk.dialogue.generators.text_match import clean_text, terms
from helpdesk.dialogue.generators.training import collect_training_data
from helpdesk.dialogue.tracker import DialogueTracker

EXTRACTOR = "LLM"
#: files that mark an assistant's folder, and how far above the flow files it is looked for
ASSISTANT_MARKERS = ("domain.yml", "domain", "config.yml", "assistant.yml")
ASSISTANT_LEVELS = 3
#: words of slot names too common to show which slot a message talks about
GENERIC_NAME_WORDS = frozenset({"new", "current", "old", "number", "id", "confirm", "customer", "value"})
_GENERIC_TERMS = frozenset(t for w in GENERIC_NAME_WORDS for t in terms(w))


@dataclass(frozen=True)
class Thresholds:
    """Probabilities (0..1, from :class:`FlowClassifier`) at which flows are started or offered;
    measured on the default assistant's tuning set (README, "Understanding")."""

    #: a flow starts when its probability reaches this (and it beats "out of scope")
    start: float = 0.4
    #: while a question is open, an answer that is not clearly typed loses to a flow this probable
    strong: float = 0.55
    #: below ``strong``, flows at least this probable and at least ``clarify_ratio`` times as
    #: probable as the best one are offered together (clarify)
    clarify: float = 0.15
    clarify_ratio: float = 0.35
    #: at most this many flows are offered when clarifying
    max_options: int = 3


@dataclass(frozen=True)
class FlowScore:
    """How probable it is that a message asks for one flow."""

    flow_id: str
    score: float


@dataclass
class _Turn:
    """One message with what the stages share about it (computed when a stage first needs it)."""

    text: str
    clean: str
    tracker: DialogueTracker
    asked: str | None
    active: Flow | None
    scores: list[FlowScore] | None = None

    #: the startable flows without a guard, and those with one (``OfflineCommandGenerator._index``)
    unguarded: frozenset[str] = frozenset()
    guarded: tuple[Flow, ...] = ()

    @cached_property
    def allowed(self) -> set[str]:
        """Flows the customer may start now, and the active one."""
        allowed = set(self.unguarded)
        allowed.update(f.id for f in self.guarded if f.is_startable(self.tracker.slots))
        if self.active is not None:
            allowed.add(self.active.id)
        return allowed

    @cached_property
    def terms(self) -> list[str]:
        """The message's terms (stemmed content words), for slot names it mentions."""
        return terms(self.text)


class OfflineCommandGenerator:
    """Model-free-at-run-time understanding for assistants without an LLM key: a small classifier
    trained when it is built (well under a second), then deterministic rules per stage.

    Example::

        generator = OfflineCommandGenerator(assistant.flows, assistant.domain, assistant_path=assistant.path)
        generator.predict("where is my order A1001?", tracker, assistant.flows, assistant.domain)
        # [StartFlow("check_order_status"), SetSlot("order_number", "A1001", "LLM")]

    Without ``assistant_path`` the folder holding the flows' files is used (its ``nlu.yml`` files
    and ``tests/``); flows built in memory train on their own texts only. The fitted classifier
    is cached in ``cache_dir`` (a folder in the temp directory when None), see
    :mod:`dialogue.generators.model_cache`: this process never imports scikit-learn.
    """

    def __init__(self, flows: FlowsList, domain: Domain, thresholds: Thresholds | None = None, *,
                 assistant_path: Path | str | None = None, cache_dir: Path | str | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._path = Path(assistant_path) if assistant_path is not None else None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._index(flows, domain)

    def _index(self, flows: FlowsList, domain: Domain) -> None:
        self._flows, self._domain = flows, domain
        startable = [f for f in flows.user_flows() if not f.link_only]
        data = collect_training_data(flows, self._path or _flows_folder(startable))
        self.training = data
        self._value_phrases = data.synonyms
        self._classifier = FlowClassifier.train(data.texts, data.labels, synonyms=data.classifier_synonyms(),
                                                cache_dir=self._cache_dir) if len(set(data.labels)) > 1 else None
        self._handoff_flows = {f.id for f in startable if _is_handoff_flow(f)}
        self._unguarded = frozenset(f.id for f in startable if f.guard is None)
        self._guarded = tuple(f for f in startable if f.guard is not None)

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
        """The startable flows' probabilities for ``text``, best first (debugging, evaluation)."""
        return self._scores(self._turn(text, tracker))

    def _turn(self, text: str, tracker: DialogueTracker) -> _Turn:
        frame = tracker.active_user_frame()
        active = self._flows.get(frame["flow_id"]) if frame else None
        return _Turn(text, clean_text(text), tracker, tracker.asked_slot(), active,
                     unguarded=self._unguarded, guarded=self._guarded)

    def _scores(self, turn: _Turn) -> list[FlowScore]:
        """Flow probabilities, best first; "out of scope" is left out but takes its share."""
        if turn.scores is None:
            if self._classifier is None:
                only = [f for f in turn.allowed if f in self._flows and not self._flows[f].link_only]
                turn.scores = [FlowScore(f, 1.0) for f in only[:1]]
            else:
                ranked = self._classifier.predict(turn.text, turn.allowed).ranked
                turn.scores = [FlowScore(label, p) for label, p in ranked if label != OUT_OF_SCOPE]
        return turn.scores

    # --- stage 1: conversation phrases ---------------------------------------------------
    def _conversation(self, turn: _Turn) -> list[Command]:
        if is_repeat(turn.clean):
            return [RepeatBotMessages()]
        if is_handoff(turn.clean):
            return [self._handoff(turn)]
        if turn.asked and turn.active and is_skip(turn.clean):
            return [SkipQuestion()]
        clear = self._clear_answer(turn)
        if clear is not None:
            return [SetSlot(str(turn.asked), clear, EXTRACTOR)]
        if is_cancel(turn.clean) and (turn.active or is_dismissal(turn.clean)):
            # "I changed my mind, please cancel order A1005" asks for a flow: not a dismissal
            if self._asks_for_flow(turn):
                return []
            return [CancelFlow()] if turn.active else [CannotHandle()]
        return [ChitChat()] if is_chitchat(turn.clean) else []

    def _asks_for_flow(self, turn: _Turn) -> bool:
        """What is left after the dismissal asks for another flow (and is no cancel phrase)."""
        rest = without_dismissal(turn.clean)
        if not rest or is_cancel(rest) or is_chitchat(rest) or self._classifier is None:
            return False
        ranked = self._classifier.predict(rest, turn.allowed).ranked
        best, probability = ranked[0]
        active = turn.active.id if turn.active else None
        return best not in (OUT_OF_SCOPE, active) and probability >= self.thresholds.strong

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
            return match_categorical(turn.text, slot.values, strict=True, synonyms=self._value_phrases)
        return None

    def _handoff(self, turn: _Turn) -> Command:
        """The assistant's own hand-off flow when it has one, else the hand-off pattern."""
        fitting = [s for s in self._scores(turn) if s.flow_id in self._handoff_flows]
        return StartFlow(fitting[0].flow_id) if fitting else HumanHandoff()
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
            value = extract_mentioned(name, self._domain.slots.get(name), turn.text, cue=True,
                                      synonyms=self._value_phrases)
            ranked = (hits, name == turn.asked, position, name, value)
            new = value is not None and value != turn.tracker.slots.get(name)
            if new and (best is None or ranked[:3] > best[:3]):
                best = ranked
        if best is None or best[3] == turn.asked:
            return []
        return [SetSlot(best[3], best[4], EXTRACTOR)]

    # --- stage 3: the answer to the open question -----------------------------------------
    def _answer(self, turn: _Turn) -> list[Command]:
        """A value typed for the open question; a message that is not one (no order number, no
        e-mail address, no option) is a digression: another flow, a question, or nothing."""
        if turn.asked is None:
            return []
        slot = self._domain.slots.get(turn.asked)
        kind = slot_kind(turn.asked, slot)
        answer = extract_answer(turn.asked, slot, turn.text, synonyms=self._value_phrases)
        if answer.confident and answer.value is not None:
            return [SetSlot(turn.asked, answer.value, EXTRACTOR), *self._extra_slots(turn)]
        question = is_question(turn.text, turn.clean)
        switch = self._decide(turn, self.thresholds.start if question else self.thresholds.strong,
                              clarify=False)
        if switch:
            return switch
        if answer.value is not None and (kind == "text" and not question or looks_like_answer(turn.text)):
            return [SetSlot(turn.asked, answer.value, EXTRACTOR)]
        if slot is not None and "other" in slot.values and self._free_answer(turn):
            return [SetSlot(turn.asked, "other", EXTRACTOR)]
        return []

    def _free_answer(self, turn: _Turn) -> bool:
        """A statement of a few words that matches no flow: an option the list does not name."""
        scores = self._scores(turn)
        best = scores[0].score if scores else 0.0
        return len(turn.clean.split()) >= 2 and best < self.thresholds.start \
            and not is_question(turn.text, turn.clean)

    def _extra_slots(self, turn: _Turn) -> list[Command]:
        """Other unfilled slots of the active flow the answer also states, of another kind."""
        asked_kind = slot_kind(str(turn.asked), self._domain.slots.get(str(turn.asked)))
        names = [n for n in self._collectable(turn.tracker) if n != turn.asked
                 and turn.tracker.slots.get(n) is None
                 and slot_kind(n, self._domain.slots.get(n)) != asked_kind]
        return self._stated(turn, names)

    # --- stage 4: flow classification -----------------------------------------------------
    def _start(self, turn: _Turn) -> list[Command]:
        """A new request; while a question is open only :meth:`_answer` may switch flows."""
        return [] if turn.asked else self._decide(turn, self.thresholds.start, clarify=True)

    def _decide(self, turn: _Turn, threshold: float, *, clarify: bool) -> list[Command]:
        """StartFlow for a probable flow; Clarify when no flow is clearly probable but a few share
        the probability; nothing when the best is the active flow (the message is about what is
        going on already)."""
        scores = self._scores(turn)
        if not scores:
            return []
        best, limits = scores[0], self.thresholds
        close = [s for s in scores[1:limits.max_options]
                 if s.score >= limits.clarify and s.score >= best.score * limits.clarify_ratio]
        if turn.active is not None and best.flow_id == turn.active.id:
            return []
        if clarify and close and best.score < limits.strong <= best.score + close[0].score:
            return [Clarify(tuple(s.flow_id for s in [best, *close]))]
        if best.score < threshold:
            return []
        flow = self._flows[best.flow_id]
        return [StartFlow(flow.id), *self._prefill(turn, flow)]

    def _prefill(self, turn: _Turn, flow: Flow) -> list[Command]:
        """Slots of a flow being started, and of the flows it calls, that the message states."""
        names = [n for n in _flow_slots(flow, self._flows) if turn.tracker.slots.get(n) is None]
        return self._stated(turn, names)

    def _stated(self, turn: _Turn, names: list[str]) -> list[Command]:
        """SetSlots for ``names`` whose value the message states. Two slots of one kind (current
        and new e-mail) take "from X to Y" / "X to Y" / "to Y" values; categorical slots match
        their own values and the assistant's synonyms of them."""
        kinds = {n: slot_kind(n, self._domain.slots.get(n)) for n in names if n in self._domain.slots}
        commands: list[Command] = []
        paired: set[str] = set()
        for kind in {k for k in kinds.values() if k in ("email", "order")}:
            same = [n for n in kinds if kinds[n] == kind]
            if len(same) == 2:
                paired.update(same)
                commands += self._old_new(turn, same, kind)
        for name, kind in kinds.items():
            if name in paired or (kind != "categorical" and list(kinds.values()).count(kind) > 1):
                continue
            value = extract_mentioned(name, self._domain.slots[name], turn.text, synonyms=self._value_phrases)
            if value is not None:
                commands.append(SetSlot(name, value, EXTRACTOR))
        return commands

    def _old_new(self, turn: _Turn, names: list[str], kind: str) -> list[Command]:
        old, new = old_new_values(turn.text, kind)
        old_name, new_name = _order_old_new(names)
        return [SetSlot(name, value, EXTRACTOR) for name, value in ((old_name, old), (new_name, new))
                if value is not None]

    def _collectable(self, tracker: DialogueTracker) -> list[str]:
        """Slots the user flows on the stack collect (not ask-before-filling), in step order."""
        names: list[str] = []
        for frame in tracker.user_frames():
            flow = self._flows.get(frame["flow_id"])
            for name in _flow_slots(flow, self._flows) if flow else []:
                if name not in names:
                    names.append(name)
        return names

    def _fallback(self, turn: _Turn) -> Command:
        if is_question(turn.text, turn.clean):
            return KnowledgeAnswer()
        return CannotHandle()


def _flow_slots(flow: Flow, flows: FlowsList, seen: frozenset[str] = frozenset()) -> list[str]:
    """Slots a flow and the flows it calls collect (not ask-before-filling), in step order."""
    names: list[str] = []
    for step in flow.steps:
        if step.kind == "collect" and step.collect and not step.ask_before_filling:
            names.append(step.collect)
        elif step.kind == "call" and step.target is not None and step.target in flows and step.target not in seen:
            names += _flow_slots(flows[step.target], flows, seen | {flow.id})
    return list(dict.fromkeys(names))


def _order_old_new(names: list[str]) -> tuple[str, str]:
    """Which of two slots of one kind holds the old value and which the new one: by their names
    (new/target vs current/old/previous), else in step order."""
    def is_new(name: str) -> bool:
        return bool(set(name.lower().split("_")) & {"new", "target", "to", "updated"})
    first, second = names
    return (second, first) if is_new(first) and not is_new(second) else (first, second)


def _flows_folder(flows: list[Flow]) -> Path | None:
    """The assistant folder of flows read from files: the nearest folder above their files with a
    domain or config (a Rasa project's ``data/flows/`` -> the project), else their common
    folder; None for in-memory flows."""
    files = [f.file for f in flows if f.file and not f.file.startswith("<") and Path(f.file).is_file()]
    if not files:
        return None
    common = Path(os.path.commonpath([str(Path(f).resolve().parent) for f in files]))
    for folder in (common, *list(common.parents)[:ASSISTANT_LEVELS]):
        if any((folder / name).exists() for name in ASSISTANT_MARKERS):
            return folder
    return common


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
