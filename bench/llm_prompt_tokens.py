"""Benchmark: prompt tokens per understanding turn, ours vs Rasa Pro's command generator.

Method. Assistants of 10, 50 and 200 synthetic flows, each with a ~20-word description and three
described slots (free text, categorical with three values, yes/no), as in the measurement behind
RASA-NOTES §5. A steady conversation: a flow is active, its second slot is asked, eight turns
have passed. For each size we build our real request (``PromptBuilder``: tool, instructions,
flow catalogue, live part) and a reconstruction of Rasa's v2 prompt for the same flows and turns
(JSON flow blocks, the state block, its rules, the last 20 transcript lines; with Rasa's flow
retrieval on, its default, only 20 flows), and estimate tokens the same way for both:
**ceil(characters / 4)**, Anthropic's rule of thumb for English. Our figure adds
``TOOL_OVERHEAD`` (313 tokens), the tool-use system prompt the API adds with tool_choice
any/tool on Claude 4-family models; Rasa's free-text output has none. RASA-NOTES' published
figures (1,000 fixed + 90 per flow) are printed too, since the reconstruction is shorter than
the real template. "cacheable" is the share of our input under ``cache_control`` (tools and
system blocks); "cache hits" replays the steady conversation's last turns through a prefix cache
that works like Anthropic's (a hit needs the exact prefix up to a breakpoint) and counts the
share of input tokens read from it.

    python bench/llm_prompt_tokens.py [--sizes 10 50 200]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpdesk.dialogue.assistant import Assistant, load_assistant  # noqa: E402
from helpdesk.dialogue.generators.llm_prompt import Prompt, PromptBuilder, prompt_slots  # noqa: E402
from helpdesk.dialogue.tracker import DialogueTracker  # noqa: E402

TOOL_OVERHEAD = 313
#: the shortest prefix Anthropic caches (Sonnet and Opus models), in tokens
MIN_CACHEABLE = 1024
RASA_FIXED, RASA_PER_FLOW, RASA_TOP_K, RASA_HISTORY_LINES = 1000, 90, 20, 20
VERBS = ["change", "cancel", "renew", "transfer", "upgrade", "pause", "report", "book", "track", "refund",
         "split", "merge", "verify", "replace", "reschedule", "insure", "donate", "redeem", "export", "appeal"]
OBJECTS = ["subscription", "invoice", "gift card", "loyalty points", "appointment", "delivery slot",
           "warranty claim", "rental", "membership", "voucher"]
MESSAGES = ["yes, that's the one", "it's REF-20931", "actually make it by email", "and how long will it take?",
            "ok go ahead", "the second option please", "no, the other one", "great thanks"]
PIECE_RE = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]+")


def chars_estimate(text: str) -> int:
    """ceil(characters / 4): Anthropic's rule of thumb for English text."""
    return math.ceil(len(text) / 4)


def pieces_estimate(text: str) -> int:
    """One token per word, number or run of punctuation (``snake_case`` = 3, ``": "`` = 2): close to
    how BPE tokenizers split JSON and identifiers, which chars / 4 overcounts."""
    return len(PIECE_RE.findall(text))


ESTIMATORS: dict[str, Callable[[str], int]] = {"word pieces": pieces_estimate, "chars / 4": chars_estimate}
estimate_tokens = pieces_estimate


def synthetic_assistant(n: int, folder: Path) -> Assistant:
    """``n`` flows with three described slots each, written as YAML and loaded as usual."""
    flows: list[str] = []
    slots: dict[str, dict[str, Any]] = {}
    for i in range(n):
        verb, obj = VERBS[i % len(VERBS)], OBJECTS[(i // len(VERBS)) % len(OBJECTS)]
        key = obj.replace(" ", "_")
        fid = f"{verb}_{key}" + (f"_{i // (len(VERBS) * len(OBJECTS))}" if i >= len(VERBS) * len(OBJECTS) else "")
        ref, reason, notify = f"{key}_reference", f"{verb}_reason", "notify_by_email"
        slots[ref] = {"type": "text"}
        slots[reason] = {"type": "categorical", "values": ["too expensive", "no longer needed", "other"]}
        slots[notify] = {"type": "bool"}
        flows.append(f"""  {fid}:
    description: The customer wants to {verb} their {obj} and get a confirmation.
    steps:
      - collect: {ref}
        description: the reference number of the {obj}
      - collect: {reason}
        description: why the customer wants to {verb} it
      - collect: {notify}
        description: whether to email a confirmation
""")
    (folder / "flows.yml").write_text("flows:\n" + "".join(flows))
    (folder / "domain.yml").write_text(json.dumps({"slots": slots}))
    return load_assistant(folder, validate=False, load_actions=False)


def steady_tracker(assistant: Assistant, turns: int = 8) -> DialogueTracker:
    """A conversation mid-flow: the first flow active, its second slot asked, ``turns`` turns in."""
    flow = assistant.flows.user_flows()[0]
    tracker = DialogueTracker.from_state("bench", None, assistant.domain)
    frame = tracker.push(flow.id)
    frame["step_id"] = prompt_slots(flow)[1].id
    asked = str(prompt_slots(flow)[1].collect)
    tracker.push("pattern_collect_information", kind="pattern", context={"collect": asked})
    tracker.slots[str(prompt_slots(flow)[0].collect)] = "REF-20931"
    for t in range(turns):
        tracker.history.append({"user": MESSAGES[t % len(MESSAGES)],
                                "bot": [f"Thanks! Could you tell me why you want to {flow.id.split('_')[0]} it? "
                                        "You can pick one of the options below."]})
    return tracker


Estimate = Callable[[str], int]


@dataclass
class Breakdown:
    """Tokens of one request: fixed part, flow lines, and the rest (state, history, message)."""

    fixed: int
    flow_tokens: int
    flows: int
    live: int

    @property
    def total(self) -> int:
        return self.fixed + self.flow_tokens + self.live

    @property
    def per_flow(self) -> float:
        return self.flow_tokens / self.flows if self.flows else 0.0

    def __str__(self) -> str:
        return f"{self.fixed} + {self.per_flow:.0f} x {self.flows} + {self.live} = {self.total}"


def ours(builder: PromptBuilder, prompt: Prompt, estimate: Estimate) -> Breakdown:
    instructions, catalogue = (b["text"] for b in prompt.request.system)
    header = catalogue.partition("\n")[0]
    fixed = TOOL_OVERHEAD + estimate(json.dumps(prompt.request.tools)) + estimate(instructions) + estimate(header)
    flow_tokens = sum(estimate(builder.line(f)) for f in prompt.flow_ids)
    total = TOOL_OVERHEAD + estimate(json.dumps(prompt.request.tools)) + sum(
        estimate(b["text"]) for b in prompt.request.system) + estimate(prompt.dynamic_text)
    return Breakdown(fixed, flow_tokens, len(prompt.flow_ids), total - fixed - flow_tokens)


RASA_RULES = """\
## Task
Read the conversation so far and produce the list of actions that handle the user's last message:
starting business processes (flows), filling their slots, or answering off-topic and information
requests.

## Flows and their slots
The available flows are given as structured data:
{flows}

## Actions you can use
* `start flow flow_name`: begin a flow, e.g. `start flow transfer_money`.
* `set slot slot_name slot_value`: set a slot, e.g. `set slot transfer_money_recipient Freddy`; also used
  to correct a value given earlier.
* `cancel flow`: stop the flow that is running.
* `disambiguate flows flow_a flow_b ...`: the message could start several flows; list them so the user
  can choose, e.g. when they only wrote "contacts".
* `provide info`: answer a question about the business, its FAQs or services.
* `offtopic reply`: reply to small talk that has nothing to do with any flow.
* `repeat message`: say the last assistant message again.

## Tips
* Never fill a slot with a placeholder or an abstract value.
* Categorical slots take one of their allowed values; use "other" when none fits.
* Boolean slots: positive answers are True, negative ones False.
* Copy text values exactly as the user gave them, without reformatting or shortening them.
* Use only what the user said. When the request is ambiguous, disambiguate.
* Several flows may be started; a digression does not require cancelling the current flow.
* Cancel only when the user explicitly asks for it.
* Write exactly one action per line in the format above; focus on the last message and use the
  earlier conversation only to understand it.

## Current state
{state}

## Conversation so far
{history}

## Your job
Write the action list for the user's last message: \"\"\"{message}\"\"\"

Your action list:
"""


def rasa_flow(flow: Any, assistant: Assistant) -> dict[str, Any]:
    slots = []
    for step in prompt_slots(flow):
        slot = assistant.domain.slots[str(step.collect)]
        item: dict[str, Any] = {"name": step.collect, "description": step.description}
        if slot.type == "bool":
            item["allowed_values"] = [True, False]
        elif slot.values:
            item["allowed_values"] = list(slot.values)
        slots.append(item)
    return {"name": flow.id, "description": " ".join(flow.description.split()), "slots": slots}


def rasa(assistant: Assistant, tracker: DialogueTracker, message: str, estimate: Estimate, *,
         retrieval: bool) -> Breakdown:
    """Rasa's v2 prompt for the same turn, rebuilt from RASA-NOTES §5 (not from its template)."""
    flows = assistant.flows.user_flows()[: RASA_TOP_K if retrieval else None]
    blocks = [json.dumps(rasa_flow(f, assistant)) for f in flows]
    active = flows[0]
    asked = prompt_slots(active)[1]
    state = json.dumps({"active_flow": active.id, "current_step": {
        "requested_slot": str(asked.collect), "requested_slot_description": asked.description},
        "slots": [{"name": s.collect, "value": tracker.slots.get(str(s.collect)) or "undefined",
                   "type": assistant.domain.slots[str(s.collect)].type, "description": s.description}
                  for s in prompt_slots(active)]})
    lines = [f"{role}: {text}" for turn in tracker.history
             for role, text in (("USER", turn["user"]), ("AI", " ".join(turn["bot"])))][-RASA_HISTORY_LINES:]
    fixed = estimate(RASA_RULES.format(flows="", state="", history="", message=""))
    live = estimate(state) + estimate("\n".join(lines)) + estimate(message)
    return Breakdown(fixed, sum(estimate(b) for b in blocks), len(blocks), live)


def replay(builder: PromptBuilder, tracker: DialogueTracker, estimate: Estimate) -> tuple[float, float]:
    """Replay the steady conversation turn by turn through a prefix cache that works like
    Anthropic's (a hit needs the exact prefix up to a breakpoint, at least MIN_CACHEABLE tokens
    long), warmed by one earlier conversation in the same flow (the cache is shared by all
    conversations). Returns (share of input under cache_control, share read from the cache)."""
    seen: set[str] = set()
    _replay(builder, tracker, estimate, seen)
    return _replay(builder, tracker, estimate, seen)


def _replay(builder: PromptBuilder, tracker: DialogueTracker, estimate: Estimate,
            seen: set[str]) -> tuple[float, float]:
    marked = served = total = 0
    for turn in range(1, len(tracker.history) + 1):
        view = DialogueTracker(tracker.sender_id, tracker.slots, tracker.stack, history=tracker.history[:turn])
        prompt = builder.build(MESSAGES[turn % len(MESSAGES)], view)
        prefix, hit, size = "", 0, TOOL_OVERHEAD + estimate(json.dumps(prompt.request.tools))
        for block in prompt.request.system:
            prefix += block["text"]
            size += estimate(block["text"])
            if prefix in seen and size >= MIN_CACHEABLE:
                hit = size
            seen.add(prefix)
        total += size + estimate(prompt.dynamic_text)
        marked += size
        served += hit
    return marked / total, served / total


def measure(n: int, estimate: Estimate) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        assistant = synthetic_assistant(n, Path(tmp))
    tracker = steady_tracker(assistant)
    builder = PromptBuilder(assistant.flows, assistant.domain, assistant_name="Acme")
    message = MESSAGES[5]
    cacheable, hits = replay(builder, tracker, estimate)
    return {"flows": n, "ours": ours(builder, builder.build(message, tracker), estimate),
            "cacheable": cacheable, "hits": hits,
            "rasa": rasa(assistant, tracker, message, estimate, retrieval=False),
            "rasa_top20": rasa(assistant, tracker, message, estimate, retrieval=True)}


def table(name: str, rows: list[dict[str, Any]]) -> None:
    print(f"\nestimate: {name}; fixed + per flow x flows shown + state/history/message = total\n")
    print("| flows | ours | per flow at Rasa's 90 | cacheable | read from cache | Rasa v2 rebuilt, all flows "
          "| Rasa v2 rebuilt, top-20 retrieval (its default) | Rasa published, top-20 | ours / Rasa rebuilt top-20 "
          "| ours / Rasa published top-20 |")
    print("| ---: | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |")
    for row in rows:
        o, r, t = row["ours"], row["rasa"], row["rasa_top20"]
        scaled = o.per_flow * RASA_PER_FLOW / r.per_flow
        published = RASA_FIXED + RASA_PER_FLOW * t.flows + t.live
        print(f"| {row['flows']} | {o} | {scaled:.0f} | {row['cacheable']:.0%} | {row['hits']:.0%} | {r} | {t} "
              f"| {published} | {o.total / t.total:.2f} | {o.total / published:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    args = parser.parse_args()
    print("Prompt tokens per understanding turn; steady conversation (a flow running, its 2nd slot asked,")
    print(f"8 turns in). Ours includes the API's tool-use system prompt ({TOOL_OVERHEAD}); RASA-NOTES publishes")
    print(f"{RASA_FIXED} fixed + {RASA_PER_FLOW} per flow for Rasa's real template "
          "(the rebuild's fixed part is shorter);")
    print("'per flow at Rasa's 90' scales our per-flow figure by Rasa's published 90 / the rebuild's per flow.")
    for name, estimate in ESTIMATORS.items():
        table(name, [measure(n, estimate) for n in args.sizes])


if __name__ == "__main__":
    main()
