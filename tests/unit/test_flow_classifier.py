"""The learned part of offline understanding: the flow classifier, its training data (flows, Rasa
NLU files, e2e tests) and the slot filling and digressions that use it, on the default assistant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpdesk.dialogue.assistant import load_assistant
from helpdesk.dialogue.commands import CancelFlow, SetSlot, StartFlow
from helpdesk.dialogue.engine import Engine, UserMessage
from helpdesk.dialogue.generators.classifier import OUT_OF_SCOPE, FlowClassifier, phrase_normaliser
from helpdesk.dialogue.generators.extractors import match_categorical, old_new_values
from helpdesk.dialogue.generators.offline import OfflineCommandGenerator
from helpdesk.dialogue.generators.training import GENERIC_OUT_OF_SCOPE, collect_training_data
from helpdesk.dialogue.tracker import DialogueTracker

REPO = Path(__file__).resolve().parents[2]
ASSISTANT = load_assistant(REPO / "flows")
GENERATOR = OfflineCommandGenerator(ASSISTANT.flows, ASSISTANT.domain, assistant_path=ASSISTANT.path)


# ----------------------------------------------------------------------------- the classifier


def test_lean_prediction_equals_scikit_learn() -> None:
    """The pure-Python prediction path (dicts and ``array("d")``) computes exactly what
    scikit-learn's pipeline does."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    data = GENERATOR.training
    model = FlowClassifier.train(data.texts, data.labels, c=3.0)  # a value the generator does not use
    normalise = phrase_normaliser({})
    prepared = [normalise(t) for t in data.texts]
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    reference = LogisticRegression(C=3.0, max_iter=2000, class_weight="balanced").fit(
        hstack([word.fit_transform(prepared), char.fit_transform(prepared)]).tocsr(), data.labels)
    messages = ["wheres my parcle??", "I want to cancle order A1005", "do you sell kayaks", "xyzzy"]
    features = hstack([word.transform([normalise(m) for m in messages]),
                       char.transform([normalise(m) for m in messages])]).tocsr()
    expected = reference.predict_proba(features)
    assert model.labels == list(reference.classes_)
    for row, message in enumerate(messages):
        got = dict(model.predict(message).ranked)
        assert np.allclose([got[label] for label in model.labels], expected[row], atol=1e-9)


@pytest.mark.parametrize("labels", [["x", "y", "z"], ["x", "y", "y"]])
def test_messages_with_one_or_no_known_n_gram_equal_scikit_learn(labels: list[str]) -> None:
    """The edge cases of the sparse dot product: one known column, none at all (the intercepts),
    and two labels (scikit-learn's single row of coefficients, expanded)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = ["aaa", "bbb", "ccc"]
    model = FlowClassifier.train(texts, labels)
    assert len(model._char_columns("qa")) == 1 and not model._char_columns("q")  # "a " alone; nothing
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    reference = LogisticRegression(C=50.0, max_iter=2000, class_weight="balanced").fit(
        hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr(), labels)
    messages = ["qa", "q", "", "aaa qa bbb"]
    expected = reference.predict_proba(hstack([word.transform(messages), char.transform(messages)]).tocsr())
    for row, message in enumerate(messages):
        got = dict(model.predict(message).ranked)
        assert np.allclose([got[label] for label in model.labels], expected[row], atol=1e-9), message


@pytest.mark.parametrize("text", ["hi", "a", "where is my order", "I'm  Ok!!", "abcd abcde abcdef"])
def test_cached_character_n_grams_equal_scikit_learns(text: str) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from helpdesk.dialogue.generators.classifier import CHAR_NGRAMS, _word_grams

    analyse = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS).build_analyzer()
    assert [g for w in text.lower().split() for g in _word_grams(w, *CHAR_NGRAMS)] == analyse(text)


def test_allowed_labels_renormalise_and_keep_out_of_scope() -> None:
    model = FlowClassifier.train(["where is my order", "cancel my order", "tell me a joke"],
                                 ["status", "cancel", OUT_OF_SCOPE])
    prediction = model.predict("cancel it", allowed={"status"})
    assert {label for label, _ in prediction.ranked} == {"status", OUT_OF_SCOPE}
    assert sum(p for _, p in prediction.ranked) == pytest.approx(1.0)


def test_the_same_data_is_trained_once() -> None:
    texts, labels = ["where is my order", "cancel my order"], ["status", "cancel"]
    assert FlowClassifier.train(texts, labels) is FlowClassifier.train(list(texts), list(labels))
    assert FlowClassifier.train(texts, labels) is not FlowClassifier.train(texts, ["a", "b"])


def test_one_label_is_refused() -> None:
    with pytest.raises(ValueError, match="at least two labels"):
        FlowClassifier.train(["a", "b"], ["x", "x"])


def test_normaliser_drops_values_and_applies_synonyms() -> None:
    normalise = phrase_normaliser({"pw": "password", "package": "parcel"})
    assert normalise("Reset my PW for jo@x.com, order #A1001 package") == "reset my password for email order parcel"


# ----------------------------------------------------------------------------- training data


def test_training_data_comes_from_flows_nlu_files_and_e2e_tests(tmp_path: Path) -> None:
    (tmp_path / "flows.yml").write_text("""
flows:
  check_balance:
    description: The customer asks how much money is on the account. Shows the balance.
    metadata: {examples: [what's my balance]}
    steps:
      - action: utter_balance
  send_money:
    name: money transfer
    description: Send money to a friend.
    nlu_trigger: [{intent: transfer}]
    steps:
      - collect: recipient
      - action: utter_sent
""")
    (tmp_path / "nlu.yml").write_text("""
nlu:
  - intent: out_of_scope
    examples: |
      - do you sell [bikes](product)?
  - intent: transfer
    examples: |
      - wire 20 dollars to Jo
  - synonym: savings
    examples: |
      - piggy bank
      - Nest Egg
""")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yml").write_text("""
test_cases:
  - test_case: a
    steps:
      - user: "how much have I got"
      - utter: utter_balance
  - test_case: b
    steps:
      - user: "pay Jo back"
        assertions:
          - flow_started: send_money
  - test_case: c
    steps:
      - user: "/SetSlots(recipient=Jo)"
      - utter: utter_sent
""")
    assistant = load_assistant(tmp_path, validate=False, load_actions=False)
    data = collect_training_data(assistant.flows, tmp_path)
    pairs = set(zip(data.texts, data.labels, strict=True))
    assert ("what's my balance", "check_balance") in pairs
    assert ("Shows the balance.", "check_balance") in pairs
    assert ("money transfer", "send_money") in pairs
    assert ("do you sell bikes?", OUT_OF_SCOPE) in pairs
    assert ("wire 20 dollars to Jo", "send_money") in pairs          # intent named by nlu_trigger
    assert ("how much have I got", "check_balance") in pairs         # labelled by the response after it
    assert ("pay Jo back", "send_money") in pairs                    # labelled by flow_started
    assert not any(t.startswith("/") for t in data.texts)            # button payloads are no examples
    assert data.synonyms == {"savings": ["piggy bank", "nest egg"]}
    assert not set(GENERIC_OUT_OF_SCOPE) & set(data.texts)           # the assistant has its own


def test_an_assistant_without_out_of_scope_examples_gets_generic_ones(tmp_path: Path) -> None:
    data = collect_training_data(ASSISTANT.flows, None)
    generic = [t for t, label in zip(data.texts, data.labels, strict=True) if label == OUT_OF_SCOPE]
    assert "play some music" in generic and len(generic) >= 10
    assert "do you have it in another size" not in generic  # the shop's flows talk about sizes
    (tmp_path / "flows.yml").write_text("""
flows:
  weather:
    description: Tell the customer what the weather is like in a city.
    steps:
      - action: utter_weather
""")
    weather = load_assistant(tmp_path, validate=False, load_actions=False)
    data = collect_training_data(weather.flows, None)
    assert "what's the weather like" not in data.texts
    assert set(data.texts) - {"weather"} - set(GENERIC_OUT_OF_SCOPE)  # the flow's own texts


def test_the_default_assistant_has_enough_examples() -> None:
    for flow in ASSISTANT.flows.user_flows():
        if not flow.link_only:
            assert len(flow.examples) >= 25, flow.id
    assert GENERATOR.training.labels.count(OUT_OF_SCOPE) >= 25


# ----------------------------------------------------------------------------- slot values


@pytest.mark.parametrize(("text", "value"), [
    ("it's way too big", "wrong size"), ("doesn't fit me", "wrong size"), ("arrived with a hole in it", "damaged"),
    ("looks different from the photo", "not as described"), ("I don't need it any more", "changed my mind"),
])
def test_categorical_values_by_meaning(text: str, value: str) -> None:
    values = ASSISTANT.domain.slots["return_reason"].values
    assert match_categorical(text, values, synonyms=GENERATOR.training.synonyms) == value


def test_synonyms_weigh_by_how_much_of_the_message_they_cover() -> None:
    values = ASSISTANT.domain.slots["problem_area"].values
    assert match_categorical("my card keeps getting declined in the basket", values, strict=True,
                             synonyms=GENERATOR.training.synonyms) == "payment"


@pytest.mark.parametrize(("text", "expected"), [
    ("from A1001 to A1002", ("A1001", "A1002")), ("A1001 instead of nothing", (None, None)),
    ("to a@b.co", (None, "a@b.co")), ("my old one is a@b.co", ("a@b.co", None)), ("it is a@b.co", (None, None)),
    ("was a@b.co", ("a@b.co", None)),
])
def test_old_and_new_values(text: str, expected: tuple[Any, Any]) -> None:
    kind = "email" if "@" in text else "order"
    assert old_new_values(text, kind) == expected


# ----------------------------------------------------------------------------- through the engine


def run(*messages: str) -> tuple[list[list[dict[str, Any]]], DialogueTracker]:
    engine = Engine(ASSISTANT, GENERATOR)
    state, commands = None, []
    for text in messages:
        result = engine.handle(state, UserMessage(text, "t"))
        state = result.state
        commands.append(result.commands)
    return commands, DialogueTracker.from_state("t", state, ASSISTANT.domain)


def test_the_first_message_fills_the_called_flows_slot() -> None:
    """verify_order (called by delivery_issue) does not ask for the number the customer gave."""
    engine = Engine(ASSISTANT, GENERATOR)
    result = engine.handle(None, UserMessage("My parcel for order A1007 is running late", "t"))
    assert {"command": "set slot", "name": "order_number", "value": "A1007", "extractor": "LLM"} in result.commands
    assert {"command": "set slot", "name": "delivery_problem", "value": "late", "extractor": "LLM"} \
        in result.commands
    texts = " ".join(m.text or "" for m in result.messages)
    assert "order number" not in texts.lower()
    assert "still on its way" in texts  # straight to the carrier's update for A1007


def test_from_x_to_y_fills_current_and_new_email() -> None:
    _, tracker = run("please change my email from maya@example.com to maya.l@example.org")
    assert tracker.slots["current_email"] == "maya@example.com"
    assert tracker.slots["new_email"] == "maya.l@example.org"
    assert tracker.asked_slot() == "confirm_email_change"


def test_a_question_while_an_order_number_is_asked_is_answered_not_stored() -> None:
    commands, tracker = run("where is my order", "before that, what are your opening hours?")
    assert {"command": "start flow", "flow": "store_hours_contact"} in commands[1]
    assert tracker.slots.get("order_number") is None


def test_never_mind_while_an_order_number_is_asked_cancels() -> None:
    commands, tracker = run("where is my order", "never mind, found the tracking email")
    assert commands[1][0]["command"] == CancelFlow.command
    assert tracker.slots.get("order_number") is None


def test_changed_my_mind_with_a_request_is_that_request() -> None:
    idle = DialogueTracker.from_state("t", None, ASSISTANT.domain)
    commands = GENERATOR.predict("I changed my mind, please cancel order A1005", idle, ASSISTANT.flows,
                                 ASSISTANT.domain)
    assert commands == [StartFlow("cancel_order"), SetSlot("order_number", "A1005", "LLM")]


def test_a_rasa_project_layout_is_found_from_its_flow_files(tmp_path: Path) -> None:
    """Without an explicit folder the generator looks above data/flows/ for the project."""
    (tmp_path / "domain.yml").write_text("slots:\n  size: {type: categorical, values: [small, large]}\n")
    (tmp_path / "data" / "flows").mkdir(parents=True)
    (tmp_path / "data" / "flows" / "coffee.yml").write_text("""
flows:
  order_coffee:
    description: Order a coffee.
    steps:
      - collect: size
""")
    (tmp_path / "data" / "nlu.yml").write_text("nlu:\n  - synonym: large\n    examples: |\n      - venti\n")
    project = load_assistant(tmp_path, validate=False, load_actions=False)
    generator = OfflineCommandGenerator(project.flows, project.domain)
    assert generator.training.synonyms == {"large": ["venti"]}
