"""Training data for offline understanding, read from an assistant at load time.

Sources, per startable flow: its ``name``, ``description`` (sentence by sentence) and
``metadata.examples``; the first customer message of each e2e test case in the assistant's
``tests/`` folder (labelled by the responses that follow it, or a ``flow_started`` assertion);
and Rasa NLU data files (any YAML file of the assistant folder with a top-level ``nlu:`` key,
which flow loading ignores, as Rasa does for CALM assistants):

.. code-block:: yaml

    nlu:
      - intent: out_of_scope        # messages no flow handles (or an intent named like a flow)
        examples: |
          - do you sell bikes?
      - synonym: wrong size         # phrases that mean the same: a categorical slot value, or
        examples: |                 # a word the classifier should read as the canonical one
          - too big
          - doesn't fit

Nothing here is specific to one assistant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from helpdesk.dialogue.flows import Flow, FlowsList
from helpdesk.dialogue.generators.classifier import OUT_OF_SCOPE
from helpdesk.dialogue.generators.text_match import terms

SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")
#: clauses of a description sentence are examples too ("..., for example a flat tyre")
CLAUSE_RE = re.compile(r"[,:;()]|\bfor example\b|\be\.g\.")
TEST_DIRS = ("tests", "e2e_tests")
#: folders never searched for NLU data or tests
SKIP_DIRS = frozenset({"node_modules", "__pycache__", "results", "models", "venv", "knowledge"})
#: words of descriptions that say nothing about what the customer wants
_DESCRIPTION_PREFIX = re.compile(r"^(?:the customer|customers?|the user|user)\s+", re.IGNORECASE)


#: messages no customer-service flow handles, used when an assistant has no out-of-scope
#: examples of its own (``intent: out_of_scope`` in an NLU file): they teach the classifier that
#: small talk, trivia and general product questions are not flow requests
GENERIC_OUT_OF_SCOPE = (
    "what's the weather like", "know any good jokes", "who are you", "what is your name", "how old are you",
    "what is the meaning of life", "who won the game", "play some music",
    "what is it made of", "what colours does it come in", "is it in stock", "how much does it cost",
    "do you have it in another size", "any recommendations", "do you sell this", "I like cats", "banana",
    "asdf qwerty", "hello", "thanks", "ok", "bye", "good morning", "you are great", "lol",
)


@dataclass
class TrainingData:
    """Labelled texts and synonym phrases of one assistant."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    #: canonical text (lower case) -> phrases that mean it (lower case)
    synonyms: dict[str, list[str]] = field(default_factory=dict)

    def add(self, text: str, label: str) -> None:
        text = " ".join(str(text).split())
        if text:
            self.texts.append(text)
            self.labels.append(label)

    def classifier_synonyms(self) -> dict[str, str]:
        """phrase -> canonical text, for the phrases that belong to one canonical text only."""
        owners: dict[str, set[str]] = {}
        for canonical, phrases in self.synonyms.items():
            for phrase in phrases:
                owners.setdefault(phrase, set()).add(canonical)
        return {p: next(iter(c)) for p, c in owners.items() if len(c) == 1}


def collect_training_data(flows: FlowsList, root: Path | None) -> TrainingData:
    """Everything the classifier learns from: flows, NLU files and e2e tests under ``root``."""
    data = TrainingData()
    startable = [f for f in flows.user_flows() if not f.link_only]
    for flow in startable:
        for text in _flow_texts(flow):
            data.add(text, flow.id)
    if root is not None and root.is_dir():
        ids = {f.id for f in startable}
        intents = {name: f.id for f in startable for name, _ in f.nlu_triggers}
        for node in _yaml_nodes(root, "nlu", tests=False):
            _read_nlu(node["nlu"], data, ids, intents)
        for node in _yaml_nodes(root, "test_cases", tests=True):
            _read_tests(node["test_cases"], data, startable, flows)
    if OUT_OF_SCOPE not in data.labels:
        _add_generic_out_of_scope(data)
    return data


def _add_generic_out_of_scope(data: TrainingData) -> None:
    """The generic out-of-scope examples that share no content word with the flows' texts (an
    assistant with a weather flow keeps "what's the weather like" for it)."""
    used = {term for text in data.texts for term in terms(text)}
    for text in GENERIC_OUT_OF_SCOPE:
        if not used.intersection(terms(text)):
            data.add(text, OUT_OF_SCOPE)


def _flow_texts(flow: Flow) -> list[str]:
    texts = [flow.name or flow.id.replace("_", " "), flow.id.replace("_", " ")]
    for sentence in SENTENCE_RE.split(flow.description or ""):
        texts.append(_DESCRIPTION_PREFIX.sub("", sentence.strip()))
        clauses = [c.strip() for c in CLAUSE_RE.split(sentence) if len(c.split()) >= 2]
        texts += clauses if len(clauses) > 1 else []
    return texts + flow.examples


def _yaml_nodes(root: Path, key: str, *, tests: bool) -> list[dict[str, Any]]:
    nodes = []
    for path in sorted(root.rglob("*.y*ml")):
        rel = path.relative_to(root).parts
        if any(part.startswith(".") or part in SKIP_DIRS for part in rel) or (rel[0] in TEST_DIRS) != tests:
            continue
        try:
            text = path.read_text(encoding="utf-8")
            if not re.search(rf"^{key}\s*:", text, re.MULTILINE):
                continue  # flows, domain: no need to parse them again
            node = YAML(typ="safe").load(text)  # YAML 1.2 rules, as everywhere
        except (YAMLError, OSError, UnicodeDecodeError):
            continue  # the e2e runner reports broken files
        if isinstance(node, dict) and isinstance(node.get(key), list):
            nodes.append(node)
    return nodes


def _read_nlu(items: list[Any], data: TrainingData, ids: set[str], intents: dict[str, str]) -> None:
    for item in items:
        if not isinstance(item, dict):
            continue
        examples = _examples(item.get("examples"))
        if "synonym" in item:
            canonical = str(item["synonym"]).lower()
            phrases = data.synonyms.setdefault(canonical, [])
            phrases += [p.lower() for p in examples if p.lower() not in phrases]
        elif "intent" in item:
            intent = str(item["intent"])
            label = intent if intent in ids else intents.get(intent, OUT_OF_SCOPE)
            for text in examples:
                data.add(text, label)


def _examples(raw: Any) -> list[str]:
    """Rasa's ``examples: |`` block ("- text" lines, entity markup removed) or a YAML list."""
    lines = raw if isinstance(raw, list) else str(raw or "").splitlines()
    found = []
    for line in lines:
        text = str(line).strip()
        text = text[1:].strip() if text.startswith("-") else text
        text = re.sub(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})", r"\1", text)
        if text:
            found.append(text)
    return found


def _read_tests(cases: list[Any], data: TrainingData, startable: list[Flow], flows: FlowsList) -> None:
    utters = {f.id: _flow_utters(f, flows) for f in startable}
    for case in cases:
        steps = case.get("steps") if isinstance(case, dict) else None
        if not isinstance(steps, list):
            continue
        first = next((i for i, s in enumerate(steps) if isinstance(s, dict) and "user" in s), None)
        if first is None:
            continue
        label = _label_of(steps[first:], utters)  # its own assertions, then what follows
        text = str(steps[first]["user"])
        if label and not text.startswith("/"):
            data.add(text, label)


def _label_of(steps: list[Any], utters: dict[str, set[str]]) -> str | None:
    """The one flow consistent with the responses and flow assertions after a message."""
    candidates = set(utters)
    for step in steps:
        if not isinstance(step, dict):
            continue
        for assertion in step.get("assertions") or []:
            if isinstance(assertion, dict) and assertion.get("flow_started") in utters:
                return str(assertion["flow_started"])
        name = step.get("utter")
        using = {f for f, names in utters.items() if name in names} if isinstance(name, str) else set()
        if using and candidates & using:
            candidates &= using
        if len(candidates) == 1:
            return next(iter(candidates))
    return None


def _flow_utters(flow: Flow, flows: FlowsList, seen: frozenset[str] = frozenset()) -> set[str]:
    """Responses a flow (and the flows it calls) can send."""
    names: set[str] = set()
    for step in flow.steps:
        if step.collect:
            names.add(step.utter or f"utter_ask_{step.collect}")
            names.update(r.utter for r in step.rejections)
        elif step.action:
            names.add(step.action)
        elif step.kind == "call" and step.target is not None and step.target in flows and step.target not in seen:
            names |= _flow_utters(flows[step.target], flows, seen | {flow.id})
    return names
