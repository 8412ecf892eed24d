"""Domain responses: choose a variation (channel, conditions), fill ``{slot}`` or Jinja templates."""

from __future__ import annotations

import functools
import random
import re
import string
from typing import Any

from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment

from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.languages import LANGUAGE_SLOT, translated_button, translated_text, translation_language
from helpdesk.dialogue.tracker import BotMessage

_JINJA = SandboxedEnvironment(autoescape=False)
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_\-]*)\}")


class _Slots(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _matches(variation: dict[str, Any], slots: dict[str, Any], channel: str | None) -> bool:
    wanted_channel = variation.get("channel")
    if wanted_channel and wanted_channel != channel:
        return False
    for cond in variation.get("condition") or []:
        if isinstance(cond, dict) and cond.get("type", "slot") == "slot" \
                and slots.get(str(cond.get("name"))) != cond.get("value"):
            return False
    return True


def choose_variation(variations: list[dict[str, Any]], slots: dict[str, Any], channel: str | None,
                     rng: random.Random) -> dict[str, Any] | None:
    """Rasa's order of preference: conditional + channel, conditional, channel, then plain."""
    usable = [v for v in variations if _matches(v, slots, channel)]
    if not usable:
        return None
    for predicate in (
        lambda v: v.get("condition") and v.get("channel"),
        lambda v: v.get("condition"),
        lambda v: v.get("channel"),
        lambda v: True,
    ):
        group = [v for v in usable if predicate(v)]
        if group:
            return group[0] if len(group) == 1 else rng.choice(group)
    return None  # pragma: no cover


def fill(text: str | None, values: dict[str, Any], *, jinja: bool, context: dict[str, Any]) -> str | None:
    """Interpolate ``{name}`` (Rasa's format style) or render a Jinja template."""
    if text is None:
        return None
    if jinja:
        return _template(text).render(context=context, slots=values, **values)
    if "{" not in text:
        return text
    try:
        return string.Formatter().vformat(text, (), _Slots({k: _show(v) for k, v in values.items()}))
    except (ValueError, IndexError, KeyError, AttributeError):
        return _FIELD.sub(lambda m: _show(values.get(m.group(1), m.group(0))), text)


@functools.lru_cache(maxsize=1024)
def _template(text: str) -> Template:
    """The compiled template of a response text (compiling costs far more than rendering)."""
    return _JINJA.from_string(text)


def _show(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def render_response(domain: Domain, name: str, *, slots: dict[str, Any], context: dict[str, Any],
                    channel: str | None, rng: random.Random, extra: dict[str, Any] | None = None,
                    ) -> BotMessage | None:
    """The message for response ``name``, or None when the domain has no usable variation.

    The variation is chosen as always; its text and button titles/payloads are then taken from
    its ``translation`` into the ``language`` slot's language when that is one of the additional
    languages and the translation exists, else the default ones are used."""
    variation = choose_variation(domain.responses.get(name) or [], slots, channel, rng)
    if variation is None:
        return None
    language = translation_language(slots.get(LANGUAGE_SLOT), domain.additional_languages)
    values = {**slots, **(extra or {})}
    jinja = (variation.get("metadata") or {}).get("template") == "jinja"
    buttons = []
    for button in variation.get("buttons") or []:
        if isinstance(button, dict):
            title, payload = translated_button(button, language)
            buttons.append({"title": fill(str(title), values, jinja=jinja, context=context),
                            "payload": fill(str(payload), values, jinja=jinja, context=context)})
    return BotMessage(
        text=fill(translated_text(variation, language), values, jinja=jinja, context=context),
        buttons=buttons, utter_action=name, custom=variation.get("custom"), image=variation.get("image"),
    )
