"""Multilingual assistants as in Rasa Pro ("Translating Your Assistant").

``config.yml`` names the primary ``language`` and the ``additional_languages`` (BCP 47 codes).
The built-in ``language`` slot holds the conversation's language (initially the primary one; set by
custom actions, ``set_slots`` steps or buttons). Responses carry ``translation: {<lang>: text}`` per
variation and ``translation: {<lang>: {title, payload}}`` per button; flows carry
``translation: {<lang>: {name: ...}}`` for the names patterns show (cancel, clarification,
continue-interrupted). A missing translation falls back to the default text or name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from helpdesk.dialogue.yaml_io import AssistantError, Problem, line_of, read_yaml

LANGUAGE_SLOT = "language"
#: Rasa's default ``language`` when ``config.yml`` does not name one
DEFAULT_LANGUAGE = "en"
CONFIG_FILE = "config.yml"
BUTTON_TRANSLATION_KEYS = ("title", "payload")
FLOW_TRANSLATION_KEYS = ("name",)

# BCP 47 well-formed tags: an ISO 639 language (2-3 letters)[-extlang][-script][-region][-variant]*
# [-extension]*[-x-private], or a private-use tag on its own (``x-en-formal``)
_BCP47 = re.compile(
    r"^(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}"
    r"(?:-[a-z]{4})?"
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*"
    r"(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*"
    r"(?:-x(?:-[a-z0-9]{1,8})+)?"
    r"|x(?:-[a-z0-9]{1,8})+)$",
    re.IGNORECASE,
)


def is_language_code(code: Any) -> bool:
    """Whether ``code`` is a well-formed BCP 47 language tag (``en``, ``fr-CA``, ``x-en-formal``)."""
    return isinstance(code, str) and bool(_BCP47.match(code))


def read_config_languages(root: Path) -> tuple[str, tuple[str, ...], list[Problem]]:
    """The primary and additional languages of ``<root>/config.yml`` (its other keys are Rasa's
    pipeline and policies, which we do not use), with line-numbered problems."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return DEFAULT_LANGUAGE, (), []
    try:
        node = read_yaml(path)
    except AssistantError as exc:
        return DEFAULT_LANGUAGE, (), exc.problems
    if not isinstance(node, dict):
        return DEFAULT_LANGUAGE, (), []
    file, problems = str(path), []
    primary = node.get("language", DEFAULT_LANGUAGE)
    if not is_language_code(primary):
        problems.append(Problem(file, line_of(node, "language"),
                                f"'language' must be a BCP 47 language code such as \"en\" or \"en-US\", "
                                f"got {primary!r}"))
        primary = DEFAULT_LANGUAGE
    raw = node.get("additional_languages") or []
    where = line_of(node, "additional_languages")
    if not isinstance(raw, list):
        problems.append(Problem(file, where, "'additional_languages' must be a list of language codes"))
        raw = []
    additional: list[str] = []
    for index, code in enumerate(raw):
        at = line_of(raw, index) or where
        if not is_language_code(code):
            problems.append(Problem(file, at, f"'additional_languages' has {code!r}, which is not a BCP 47 "
                                              "language code (such as \"de\", \"fr-CA\" or \"x-en-formal\")"))
        elif code.lower() == str(primary).lower():
            problems.append(Problem(file, at, f"the primary language '{primary}' cannot also be one of the "
                                              "'additional_languages'"))
        elif code.lower() not in (c.lower() for c in additional):
            additional.append(code)
    return str(primary), tuple(additional), problems


# ----------------------------------------------------------------------------- shapes (load time)


def response_translation_problems(response: str, variation: Any, file: str, line: int | None) -> list[Problem]:
    """A variation's ``translation`` maps language codes to text; a button's maps them to
    ``{title, payload}`` (Rasa's "Response Translations")."""
    problems: list[Problem] = []
    if "translation" in variation:
        raw = variation["translation"]
        at = line_of(variation, "translation") or line
        if not isinstance(raw, dict):
            problems.append(Problem(file, at, f"response '{response}': 'translation' must map language codes "
                                              "to the translated text, e.g. {de: \"Hallo\"}"))
        else:
            for lang, text in raw.items():
                if not isinstance(text, str):
                    problems.append(Problem(file, line_of(raw, lang) or at,
                                            f"response '{response}': the '{lang}' translation must be the "
                                            f"translated text, got {_shown(text)}"))
    buttons = variation.get("buttons")
    for index, button in enumerate(buttons if isinstance(buttons, list) else []):
        if isinstance(button, dict) and "translation" in button:
            at = line_of(button, "translation") or line_of(buttons, index) or line
            problems += _button_translation_problems(response, button["translation"], file, at)
    return problems


def _button_translation_problems(response: str, raw: Any, file: str, line: int | None) -> list[Problem]:
    shape = "a mapping of language codes to {title, payload}"
    if not isinstance(raw, dict):
        return [Problem(file, line, f"response '{response}': a button's 'translation' must be {shape}")]
    problems = []
    for lang, entry in raw.items():
        at = line_of(raw, lang) or line
        if not isinstance(entry, dict):
            problems.append(Problem(file, at, f"response '{response}': a button's '{lang}' translation must be "
                                              f"{{title, payload}}, got {_shown(entry)}"))
            continue
        for key, value in entry.items():
            if key not in BUTTON_TRANSLATION_KEYS:
                problems.append(Problem(file, line_of(entry, key) or at,
                                        f"response '{response}': unknown key '{key}' in a button's '{lang}' "
                                        "translation (only 'title' and 'payload')"))
            elif not isinstance(value, str):
                problems.append(Problem(file, line_of(entry, key) or at,
                                        f"response '{response}': a button's '{lang}' {key} must be text, "
                                        f"got {_shown(value)}"))
    return problems


def flow_translation_issues(node: Any, line: int | None) -> tuple[dict[str, str], list[tuple[str, int | None]]]:
    """A flow's ``translation: {<lang>: {name: ...}}``: the names by language, and (message, line)
    issues for anything else."""
    if not isinstance(node, dict):
        return {}, [("'translation' must map language codes to {name: ...}, e.g. {de: {name: Passwort "
                     "zurücksetzen}}", line)]
    names: dict[str, str] = {}
    issues: list[tuple[str, int | None]] = []
    for lang, entry in node.items():
        at = line_of(node, lang) or line
        if not isinstance(entry, dict):
            issues.append((f"the '{lang}' translation must be {{name: ...}}, got {_shown(entry)}", at))
            continue
        for key in entry:
            if key not in FLOW_TRANSLATION_KEYS:
                issues.append((f"unknown key '{key}' in the '{lang}' translation (only 'name')",
                               line_of(entry, key) or at))
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            issues.append((f"the '{lang}' translation needs a 'name' (the flow's name in that language)", at))
            continue
        names[str(lang)] = name.strip()
    return names, issues


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# ----------------------------------------------------------------------------- choosing (run time)


def translation_language(value: Any, additional: Iterable[str]) -> str | None:
    """The configured additional language the ``language`` slot's ``value`` names, or None: the
    primary language, or a language the assistant does not support, uses the default texts."""
    if not isinstance(value, str):
        return None
    wanted = value.strip().lower()
    return next((code for code in additional if code.lower() == wanted), None)


def lookup(translations: Any, language: str | None) -> Any:
    """``translations[language]`` matching the code case-insensitively (None when absent)."""
    if not language or not isinstance(translations, dict):
        return None
    wanted = language.lower()
    return next((value for key, value in translations.items() if str(key).lower() == wanted), None)


def translated_text(variation: dict[str, Any], language: str | None) -> Any:
    """The variation's text in ``language``, falling back to its default text."""
    text = lookup(variation.get("translation"), language)
    return text if isinstance(text, str) else variation.get("text")


def translated_button(button: dict[str, Any], language: str | None) -> tuple[Any, Any]:
    """A button's (title, payload) in ``language``; each falls back to the default one."""
    entry = lookup(button.get("translation"), language)
    entry = entry if isinstance(entry, dict) else {}
    title = entry.get("title") if isinstance(entry.get("title"), str) else button.get("title", "")
    payload = entry.get("payload") if isinstance(entry.get("payload"), str) else button.get("payload", "")
    return title, payload


# ----------------------------------------------------------------------------- checks (validate)


def translation_warnings(flows: Iterable[Any], domain: Any, *, detailed: bool = False) -> list[Problem]:
    """What ``rasa data validate`` warns about: translations into languages that are not among the
    ``additional_languages`` (never shown), and missing translations, counted per kind (one line
    per response or flow and language with ``detailed``, as ``rasa data validate translations``)."""
    additional = tuple(domain.additional_languages)
    warnings = list(_unconfigured(flows, domain, additional))
    own = domain.slots.get(LANGUAGE_SLOT)
    if own is not None and own.file is not None:
        warnings.append(Problem(own.file, own.line, "slot 'language' is the name of Rasa's built-in slot: "
                                                    "your slot is used as the conversation's language, so "
                                                    "its values should be config.yml's language codes"))
    missing_responses = list(_missing_response_translations(domain, additional))
    missing_flows = [(flow, lang) for flow in flows if not flow.is_pattern for lang in additional
                     if lookup(flow.translations, lang) is None]
    if detailed:
        for name, lang, file, line in missing_responses:
            warnings.append(Problem(file, line, f"response '{name}' has no '{lang}' translation"))
        for flow, lang in missing_flows:
            warnings.append(Problem(flow.file, flow.line, f"flow '{flow.id}' has no '{lang}' name translation"))
        return warnings
    if missing_responses:
        languages = ", ".join(lang for lang in additional if any(m[1] == lang for m in missing_responses))
        count = len({name for name, _, _, _ in missing_responses})
        warnings.append(Problem("responses", None, f"{count} response(s) miss translations ({languages}); "
                                                   "'helpdesk validate --translations' lists them"))
    if missing_flows:
        languages = ", ".join(lang for lang in additional if any(m[1] == lang for m in missing_flows))
        count = len({flow.id for flow, _ in missing_flows})
        warnings.append(Problem("flows", None, f"{count} flow(s) miss name translations ({languages}); "
                                               "'helpdesk validate --translations' lists them"))
    return warnings


def _unconfigured(flows: Iterable[Any], domain: Any, additional: tuple[str, ...]) -> Iterator[Problem]:
    configured = ", ".join(additional) or "none"
    for name, variations in domain.responses.items():
        file, line = domain.response_lines.get(name, ("domain", None))
        for lang in dict.fromkeys(_response_languages(variations)):
            if translation_language(lang, additional) is None:
                yield Problem(file, line, f"response '{name}' has a translation into '{lang}', which is never "
                                          f"used: '{lang}' is not among config.yml's additional_languages "
                                          f"({configured})")
    for flow in flows:
        for lang in flow.translations:
            if translation_language(lang, additional) is None:
                yield Problem(flow.file, flow.line, f"flow '{flow.id}' has a name translation into '{lang}', which "
                                                    f"is never used: '{lang}' is not among config.yml's "
                                                    f"additional_languages ({configured})")


def _response_languages(variations: list[dict[str, Any]]) -> Iterator[str]:
    for variation in variations:
        for source in (variation, *[b for b in variation.get("buttons") or [] if isinstance(b, dict)]):
            translation = source.get("translation")
            if isinstance(translation, dict):
                yield from map(str, translation)


def _missing_response_translations(domain: Any, additional: tuple[str, ...]
                                   ) -> Iterator[tuple[str, str, str, int | None]]:
    """(response, language, file, line) for each response with a text variation (or button)
    that has no translation into that language."""
    for name, variations in domain.responses.items():
        file, line = domain.response_lines.get(name, ("domain", None))
        for lang in additional:
            if any(_lacks(variation, lang) for variation in variations):
                yield name, lang, file, line


def _lacks(variation: dict[str, Any], lang: str) -> bool:
    if variation.get("text") is not None and lookup(variation.get("translation"), lang) is None:
        return True
    return any(isinstance(b, dict) and lookup(b.get("translation"), lang) is None
               for b in variation.get("buttons") or [])
