"""Multilingual assistants as Rasa Pro has them (docs: /docs/pro/build/translating-your-assistant
and /docs/pro/build/configuring-assistant#language).

config.yml names the primary ``language`` and the ``additional_languages``; the built-in
``language`` slot (initially the primary language; set by custom actions, ``set_slots`` or
buttons) picks each response's ``translation`` (text per variation, ``{title, payload}`` per
button) and each flow's translated ``name`` in pattern messages; a missing translation falls
back to the default text. Bad shapes are line-numbered loader errors; unused or missing
translations are warnings (as ``rasa data validate``).
"""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands.dsl import parse_command_text
from helpdesk.dialogue.engine import Engine, TurnResult, UserMessage
from helpdesk.dialogue.languages import is_language_code
from helpdesk.dialogue.ports import Ports
from helpdesk.dialogue.tracker import BotMessage
from helpdesk.dialogue.yaml_io import AssistantError
from tests.unit.test_engine import NoUnderstanding

CONFIG = """\
recipe: default.v1
language: en
additional_languages:
  - de
  - fr
pipeline:
  - name: CompactLLMCommandGenerator
"""

DOMAIN = """\
slots:
  size:
    type: categorical
    values: [small, large]
responses:
  utter_ask_size:
    - text: "Which size would you like?"
      translation:
        de: "Welche Größe möchten Sie?"
      buttons:
        - title: "Small"
          payload: "/SetSlots(size=small)"
          translation:
            de: {title: "Klein"}
            fr: {title: "Petit", payload: "/SetSlots(size=small)"}
        - title: "Large"
          payload: "/SetSlots(size=large)"
          translation:
            de: {title: "Groß", payload: "/SetSlots(size=large)"}
  utter_price:
    - condition:
        - type: slot
          name: size
          value: small
      text: "A small one costs {size} 10 euros."
      translation:
        de: "Ein kleines ({size}) kostet 10 Euro."
        fr: "Un petit ({size}) coûte 10 euros."
    - text: "A large one costs 20 euros."
      translation:
        de: "Ein großes kostet 20 Euro."
  utter_only_english:
    - text: "This sentence has no translation."
  utter_done:
    - text: "Done."
      translation:
        de: "Fertig."
        fr: "Terminé."
  utter_flow_cancelled_rasa:
    - text: "Okay, I've stopped {{ context.canceled_name }}."
      translation:
        de: "Gut, ich habe {{ context.canceled_name }} abgebrochen."
      metadata:
        template: jinja
"""

FLOWS = """\
flows:
  buy_shirt:
    name: buy a shirt
    description: Buy a shirt in a size.
    translation:
      de:
        name: ein Hemd kaufen
      fr:
        name: acheter une chemise
    steps:
      - collect: size
      - action: utter_price
      - action: utter_only_english
      - action: utter_done
  speak_german:
    description: Switch the conversation to German.
    persisted_slots: [language]
    steps:
      - set_slots:
          - language: de
      - action: utter_done
  pick_language_in_action:
    description: Ask the action server which language the customer prefers.
    steps:
      - action: action_pick_language
      - action: action_report
"""

ACTIONS = '''
from helpdesk.dialogue.sdk import Action, SlotSet

class PickLanguage(Action):
    """Sets the language from what the channel tells (Rasa's docs do it at session start)."""

    def name(self):
        return "action_pick_language"

    def run(self, dispatcher, tracker, domain):
        return [SlotSet("language", tracker.latest_message["metadata"].get("locale", "fr"))]


class Report(Action):
    def name(self):
        return "action_report"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="language=" + str(tracker.get_slot("language")))
        dispatcher.utter_message(response="utter_done")
        return []
'''


def make_assistant(root: Path, *, config: str | None = CONFIG, domain: str = DOMAIN, flows: str = FLOWS,
                   actions: str | None = ACTIONS) -> Assistant:
    root.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (root / "config.yml").write_text(config)
    (root / "domain.yml").write_text(domain)
    (root / "flows.yml").write_text(flows)
    if actions is not None:
        (root / "actions.py").write_text(actions)
    return load_assistant(root)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return make_assistant(tmp_path_factory.mktemp("shirts"))


class Chat:
    def __init__(self, assistant: Assistant) -> None:
        self.engine = Engine(assistant, NoUnderstanding(),
                             Ports(actions=assistant.action_runner(), rng=random.Random(0)))
        self.state: dict[str, Any] | None = None
        self.last: TurnResult

    def __call__(self, text: str, *commands: str, metadata: dict[str, Any] | None = None) -> list[str]:
        scripted = [parse_command_text(c) for c in commands] if commands else None
        message = UserMessage(text, "u1", commands=scripted, metadata=metadata or {})
        self.last = self.engine.handle(self.state, message)
        json.dumps(self.last.state)
        self.state = self.last.state
        return [m.text or "" for m in self.last.messages]

    @property
    def messages(self) -> list[BotMessage]:
        return self.last.messages

    @property
    def slots(self) -> dict[str, Any]:
        return (self.state or {})["slots"]


@pytest.fixture
def chat(assistant: Assistant) -> Chat:
    return Chat(assistant)


#: pattern_completed's default response: it has no translation, so it stays in English
MORE = "Is there anything else I can help you with?"


def buttons(message: BotMessage) -> list[tuple[str, str]]:
    return [(b["title"], b["payload"]) for b in message.buttons]


# --- the language slot -------------------------------------------------------------------------


def test_the_language_slot_starts_at_the_primary_language_and_english_is_said(chat: Chat) -> None:
    assert chat("I want a shirt", "start flow buy_shirt") == ["Which size would you like?"]
    assert chat.slots["language"] == "en"
    assert buttons(chat.messages[0]) == [("Small", "/SetSlots(size=small)"), ("Large", "/SetSlots(size=large)")]


def test_the_built_in_slot_lists_the_configured_languages_and_is_not_for_understanding(
        assistant: Assistant) -> None:
    slot = assistant.domain.slots["language"]
    assert (slot.type, slot.values, slot.initial_value) == ("categorical", ("en", "de", "fr"), "en")
    assert not slot.understanding_may_ever_fill()
    assert (assistant.domain.language, assistant.domain.additional_languages) == ("en", ("de", "fr"))


def test_without_config_yml_the_primary_language_is_english(tmp_path: Path) -> None:
    assistant = make_assistant(tmp_path / "plain", config=None, domain=DOMAIN, flows=FLOWS)
    assert assistant.domain.slots["language"].values == ("en",)
    chat = Chat(assistant)
    chat("/SetSlots(language=de)")
    assert chat("I want a shirt", "start flow buy_shirt") == ["Which size would you like?"]


def test_a_config_without_language_defaults_to_english(tmp_path: Path) -> None:
    assistant = make_assistant(tmp_path / "a", config="recipe: default.v1\nadditional_languages: [de]\n")
    assert assistant.domain.slots["language"].values == ("en", "de")


# --- responses ---------------------------------------------------------------------------------


def test_german_text_and_buttons_when_the_language_slot_is_de(chat: Chat) -> None:
    chat("/SetSlots(language=de)")
    assert chat.slots["language"] == "de"
    assert chat("Ich möchte ein Hemd", "start flow buy_shirt") == ["Welche Größe möchten Sie?"]
    # a button translation without a payload keeps the default payload
    assert buttons(chat.messages[0]) == [("Klein", "/SetSlots(size=small)"), ("Groß", "/SetSlots(size=large)")]


def test_a_conditional_variation_is_chosen_as_always_then_translated(chat: Chat) -> None:
    chat("/SetSlots(language=de)")
    chat("Ich möchte ein Hemd", "start flow buy_shirt")
    assert chat("/SetSlots(size=small)") == [
        "Ein kleines (small) kostet 10 Euro.", "This sentence has no translation.", "Fertig.", MORE]


def test_a_missing_translation_falls_back_to_the_default_text(chat: Chat) -> None:
    chat("/SetSlots(language=fr)")
    # no French text for the question, but French button titles
    assert chat("une chemise", "start flow buy_shirt") == ["Which size would you like?"]
    assert buttons(chat.messages[0]) == [("Petit", "/SetSlots(size=small)"), ("Large", "/SetSlots(size=large)")]
    assert chat("/SetSlots(size=large)") == ["A large one costs 20 euros.", "This sentence has no translation.",
                                             "Terminé.", MORE]


def test_a_custom_action_sets_the_language_and_later_responses_follow(chat: Chat) -> None:
    assert chat("which language?", "start flow pick_language_in_action") == ["language=fr", "Terminé.", MORE]
    assert chat.slots["language"] == "fr"


def test_a_language_the_assistant_does_not_support_uses_the_default_texts(chat: Chat) -> None:
    assert chat("quale lingua?", "start flow pick_language_in_action", metadata={"locale": "it"}) == [
        "language=it", "Done.", MORE]
    chat("una camicia", "start flow buy_shirt")
    assert chat("basta", "cancel flow")[:1] == ["Okay, I've stopped buy a shirt."]


def test_a_set_slots_step_switches_the_language(chat: Chat) -> None:
    assert chat("Deutsch bitte", "start flow speak_german") == ["Fertig.", MORE]
    assert chat.slots["language"] == "de"
    assert chat("ein Hemd", "start flow buy_shirt") == ["Welche Größe möchten Sie?"]


# --- flow names --------------------------------------------------------------------------------


def test_the_cancel_message_names_the_flow_in_the_conversation_language(chat: Chat) -> None:
    chat("/SetSlots(language=de)")
    chat("ein Hemd", "start flow buy_shirt")
    assert chat("doch nicht", "cancel flow")[:1] == ["Gut, ich habe ein Hemd kaufen abgebrochen."]


def test_the_cancel_message_in_the_primary_language_uses_the_default_name(chat: Chat) -> None:
    chat("a shirt", "start flow buy_shirt")
    assert chat("never mind", "cancel flow")[:1] == ["Okay, I've stopped buy a shirt."]


def test_clarification_options_are_translated_flow_names(chat: Chat) -> None:
    chat("/SetSlots(language=fr)")
    assert chat("hmm", "clarify buy_shirt speak_german") == [
        "I'm not sure which of these you mean: acheter une chemise or speak german?"]
    assert buttons(chat.messages[0]) == [("acheter une chemise", "/buy_shirt"), ("speak german", "/speak_german")]


def test_the_continue_question_names_the_interrupted_flow_in_the_conversation_language(chat: Chat) -> None:
    chat("/SetSlots(language=de)")
    chat("ein Hemd", "start flow buy_shirt")
    assert chat("erst Deutsch", "start flow speak_german") == [
        "Fertig.", "Would you like to continue with ein Hemd kaufen?"]
    assert chat("/SetSlots(continue_interrupted_flow_confirmation=true)")[-1] == "Welche Größe möchten Sie?"


# --- action servers ----------------------------------------------------------------------------


def test_action_servers_get_the_responses_with_their_translations_as_written(assistant: Assistant) -> None:
    domain = Chat(assistant).engine._domain_json  # what actions and action servers receive
    assert domain["responses"]["utter_done"] == [{"text": "Done.", "translation": {"de": "Fertig.",
                                                                                   "fr": "Terminé."}}]
    button = domain["responses"]["utter_ask_size"][0]["buttons"][0]
    assert button["translation"] == {"de": {"title": "Klein"},
                                     "fr": {"title": "Petit", "payload": "/SetSlots(size=small)"}}
    assert domain["slots"]["language"] == {"type": "categorical", "initial_value": "en",
                                           "mappings": [{"type": "controlled"}], "values": ["en", "de", "fr"]}


# --- loading and validation --------------------------------------------------------------------


def load_problems(tmp_path: Path, **files: str) -> list[str]:
    with pytest.raises(AssistantError) as error:
        make_assistant(tmp_path / "bad", actions=None, **files)
    return [f"{Path(p.file).name}:{p.line}: {p.message}" for p in error.value.problems]


@pytest.mark.parametrize(("response", "expected"), [
    ("  utter_x:\n    - text: Hi\n      translation: [de, Hallo]\n",
     "domain.yml:9: response 'utter_x': 'translation' must map language codes to the translated text"),
    ("  utter_x:\n    - text: Hi\n      translation:\n        de: {text: Hallo}\n",
     "domain.yml:10: response 'utter_x': the 'de' translation must be the translated text, got a mapping"),
    ("  utter_x:\n    - text: Hi\n      buttons:\n        - title: A\n          payload: /a\n"
     "          translation:\n            de: {label: B}\n",
     "domain.yml:13: response 'utter_x': unknown key 'label' in a button's 'de' translation"),
    ("  utter_x:\n    - text: Hi\n      buttons:\n        - title: A\n          payload: /a\n"
     "          translation:\n            de: B\n",
     "domain.yml:13: response 'utter_x': a button's 'de' translation must be {title, payload}, got 'B'"),
])
def test_a_malformed_response_translation_is_a_line_numbered_loader_error(tmp_path: Path, response: str,
                                                                           expected: str) -> None:
    domain = "slots:\n  size:\n    type: categorical\n    values: [small, large]\nresponses:\n" \
             "  utter_ask_size: [{text: Which size?}]\n" + response
    problems = load_problems(tmp_path, domain=domain, flows=FLOWS.split("  speak_german:")[0])
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(("translation", "expected"), [
    ("    translation: {de: Hemd}\n",
     "flows.yml:4: the 'de' translation must be {name: ...}, got 'Hemd'"),
    ("    translation:\n      de:\n        name: Hemd\n        description: Ein Hemd\n",
     "flows.yml:7: unknown key 'description' in the 'de' translation (only 'name')"),
    ("    translation:\n      de: {title: Hemd}\n",
     "flows.yml:5: the 'de' translation needs a 'name'"),
    ("    translation: ein Hemd\n",
     "flows.yml:4: 'translation' must map language codes to {name: ...}"),
])
def test_a_malformed_flow_translation_is_a_line_numbered_loader_error(tmp_path: Path, translation: str,
                                                                       expected: str) -> None:
    flows = "flows:\n  buy_shirt:\n    description: Buy a shirt.\n" + translation + \
            "    steps:\n      - collect: size\n"
    problems = load_problems(tmp_path, flows=flows)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(("config", "expected"), [
    ("language: en\nadditional_languages:\n  - de\n  - en\n",
     "config.yml:4: the primary language 'en' cannot also be one of the 'additional_languages'"),
    ("language: en\nadditional_languages:\n  - de_DE\n",
     "config.yml:3: 'additional_languages' has 'de_DE', which is not a BCP 47 language code"),
    ("language: english\n", "config.yml:1: 'language' must be a BCP 47 language code"),
    ("language: en\nadditional_languages: de\n", "config.yml:2: 'additional_languages' must be a list"),
])
def test_bad_language_configuration_is_a_line_numbered_error(tmp_path: Path, config: str, expected: str) -> None:
    problems = load_problems(tmp_path, config=config)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_projects_own_language_slot_is_kept_with_a_warning(tmp_path: Path) -> None:
    domain = DOMAIN.replace("slots:\n", "slots:\n  language:\n    type: text\n    initial_value: de\n", 1)
    assistant = make_assistant(tmp_path / "own", domain=domain)
    slot = assistant.domain.slots["language"]
    assert slot.type == "text" and slot.initial_value == "de"
    expected = ("domain.yml:2: slot 'language' is the name of Rasa's built-in slot: your slot is used as the "
                "conversation's language, so its values should be config.yml's language codes")
    assert any(str(w).endswith(expected) for w in assistant.warnings), assistant.warnings
    chat = Chat(assistant)
    chat("Ich möchte ein Hemd", "start flow buy_shirt")
    assert chat("/SetSlots(size=small)")[0] == "Ein kleines (small) kostet 10 Euro."


@pytest.mark.parametrize("code", ["en", "de", "en-US", "fr-CA", "de-CH", "zh-Hant-TW", "x-en-formal", "es-419"])
def test_bcp_47_codes_are_accepted(code: str) -> None:
    assert is_language_code(code)


@pytest.mark.parametrize("code", ["", "english", "de_DE", "e", "en-", "-en", 3])
def test_other_codes_are_not(code: Any) -> None:
    assert not is_language_code(code)


def test_unused_and_missing_translations_are_warnings_not_errors(tmp_path: Path) -> None:
    domain = DOMAIN.replace('        fr: "Terminé."\n', '        fr: "Terminé."\n        it: "Fatto."\n')
    assistant = make_assistant(tmp_path / "warn", domain=domain)
    messages = [str(w) for w in assistant.warnings]
    assert any("response 'utter_done' has a translation into 'it', which is never used: 'it' is not among "
               "config.yml's additional_languages (de, fr)" in m for m in messages), messages
    # one consolidated warning per kind: responses (incl. the default ones) and flow names
    summaries = [m for m in messages if " miss " in m]
    assert len(summaries) == 2 and "response(s) miss translations (de, fr)" in summaries[0]
    assert "2 flow(s) miss name translations (de, fr)" in summaries[1]
    detailed = [str(w) for w in assistant.detailed_warnings]
    assert any(m.endswith("response 'utter_only_english' has no 'de' translation") for m in detailed)
    assert any(m.endswith("flow 'speak_german' has no 'fr' name translation") for m in detailed)
    assert not any("utter_done' has no" in m for m in detailed)


def test_translations_without_additional_languages_still_load(tmp_path: Path) -> None:
    assistant = make_assistant(tmp_path / "mono", config="language: en\n")
    assert any("flow 'buy_shirt' has a name translation into 'de', which is never used" in str(w)
               for w in assistant.warnings)
    assert assistant.flows["buy_shirt"].name_for("de") == "buy a shirt"


def test_helpdesk_validate_prints_the_warnings_and_passes(tmp_path: Path) -> None:
    from helpdesk.cli import cli

    make_assistant(tmp_path / "cli")
    runner = CliRunner()
    summary = runner.invoke(cli, ["validate", "--assistant", str(tmp_path / "cli")])
    assert summary.exit_code == 0, summary.output
    assert "warning: flows: 2 flow(s) miss name translations (de, fr)" in summary.output
    detailed = runner.invoke(cli, ["validate", "--assistant", str(tmp_path / "cli"), "--translations"])
    assert detailed.exit_code == 0
    assert "flow 'speak_german' has no 'de' name translation" in detailed.output


def test_the_bundled_assistant_has_english_only_and_no_warnings() -> None:
    assistant = load_assistant(Path(__file__).parents[2] / "flows")
    assert assistant.domain.slots["language"].values == ("en",) and assistant.warnings == []


def test_an_e2e_test_can_switch_the_language_with_a_button(assistant: Assistant, tmp_path: Path) -> None:
    from helpdesk.dialogue.e2e import run_tests

    path = tmp_path / "e2e.yml"
    path.write_text(textwrap.dedent("""\
        test_cases:
          - test_case: german_shirt
            steps:
              - user: /SetSlots(language=de)
                assertions:
                  - slot_was_set:
                      - name: language
                        value: de
              - user: ein Hemd
                commands: ["start flow buy_shirt"]
              - bot: Welche Größe möchten Sie?
              - user: /SetSlots(size=small)
              - utter: utter_price
              - bot: Fertig.
        """))
    result = run_tests([path], assistant, lambda a: NoUnderstanding())
    assert result.failed == 0 and result.passed == 1, [c.failures for c in result.cases]
