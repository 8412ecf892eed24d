"""Conversation-level phrases the offline generator recognises without any flow: cancel, hand-off,
skip, repeat, small talk and questions.

Every pattern runs on :func:`~dialogue.generators.text_match.clean_text` (lowercase words,
contractions expanded, no punctuation). Patterns are anchored where a loose match would
misfire ("stop" cancels, "stop sending me emails" does not).
"""

from __future__ import annotations

import re

_POLITE = r"(?:(?:please|ok|okay|oh|no|actually|just|um|sorry|so|hmm|can you|could you|would you|can we|"\
          r"could we|let us|lets|i want to|i would like to|i wanna) )*"
_TAIL = r"(?: (?:please|now|then|thanks|thank you|for now))*"
_HUMAN = r"(?:human|humans|agent|agents|person|people|representative|rep|operator|someone|somebody|staff|" \
         r"manager|supervisor|customer service|support team|member of (?:staff|your team))"

CANCEL = re.compile(
    rf"^{_POLITE}(?:cancel|stop|quit|abort|exit|end)(?: (?:it|that|this|everything|all of (?:it|this|that)"
    rf"|the (?:whole )?(?:thing|process|request|conversation)|this (?:request|process)))?{_TAIL}$")
DISMISS = re.compile(
    r"\bnever ?mind\b|\bforget (?:it|about it|that|this)\b|\b(?:i )?(?:have )?changed my mind\b"
    r"|\bi do not want to (?:do|continue) (?:this|that|it)(?: anymore)?\b|\bdo not bother\b")
HANDOFF = re.compile(
    rf"\b(?:talk|speak|chat|connect|transfer|escalate|put me through)\w*(?: \w+){{0,4}}? {_HUMAN}\b"
    rf"|\b(?:want|need|get me|give me) (?:a |an |to a )?(?:real |live |actual )?"
    r"(?:human|agent|person|representative|operator)\b"
    rf"|^{_POLITE}(?:a |an )?(?:real |live )?(?:human|agent|person|representative|operator|rep)s?{_TAIL}$"
    r"|\b(?:real|live|actual) (?:person|human|agent)\b|\bcustomer service rep\w*"
    r"|\b(?:human|agent|person|representative|operator)s? (?:i |we )?(?:can |could )?(?:talk|speak|chat)\b")
SKIP = re.compile(
    rf"^{_POLITE}(?:i will |i would )?(?:skip|pass|next)(?: (?:it|this|that|this one|that one|this question"
    rf"|the question|that question))?{_TAIL}$"
    r"|\b(?:do not|did not) (?:know|remember|have (?:it|that|one))\b|\bno (?:idea|clue)\b|\bnot sure\b"
    r"|\bcan not remember\b|\brather not (?:say|tell|answer)\b|\bprefer not to (?:say|tell|answer)\b"
    r"|\bskip (?:this|that|the) question\b|\bdunno\b")
REPEAT = re.compile(
    rf"^{_POLITE}(?:repeat(?: (?:that|it|yourself|the (?:last )?(?:message|question)|what you said))?"
    r"(?: again)?|say (?:that|it) again|come again|what did you (?:just )?say|pardon(?: me)?|sorry what"
    r"|what was that|(?:i )?(?:did not|could not) (?:catch|get|hear|read) (?:that|it|what you said))"
    rf"{_TAIL}$")
_GREETING = r"(?:hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening|day)|" \
            r"thanks|thank you|thx|ty|cheers|bye|goodbye|see you|great|awesome|cool|nice|lol|haha)"
_FILLER = r"(?: (?:there|again|so much|very much|a lot|all|everyone|bot|mate|buddy|friend|for (?:your|the) help" \
          r"|for helping|that is all|that is it|you))*"
_SMALL_TALK = r"(?:how are you(?: doing| today)?|how is it going|what is up|whats up|sup|who are you" \
              r"|what are you|what is your name|are you (?:a |an )?(?:bot|robot|human|real|ai|machine)" \
              r"|nice to meet you|have a (?:nice|good|great) day|tell me a joke|you are (?:great|awesome|" \
              r"funny|helpful|useless|stupid)|i love you|good (?:bot|job))"
_PRAISE = r"i (?:really )?(?:like|love|adore) (?:you|your|this|the|it)(?: \w+){0,3}"
CHITCHAT = re.compile(
    rf"^(?:{_GREETING}{_FILLER} ?)+$|^(?:{_GREETING}{_FILLER} )*(?:{_SMALL_TALK}|{_PRAISE}){_FILLER}$")
QUESTION_WORDS = frozenset(
    "what how when where why who whom whose which can could do does did is are was were will would should "
    "may have has".split())


def is_cancel(clean: str) -> bool:
    """The customer wants to stop what they are doing ("cancel", "never mind", "forget it")."""
    return bool(CANCEL.search(clean)) or is_dismissal(clean)


def is_dismissal(clean: str) -> bool:
    """A cancel phrase that asks for nothing new ("never mind", "forget it", "I changed my mind")."""
    return bool(DISMISS.search(clean))


def without_dismissal(clean: str) -> str:
    """The message with its dismissal phrases removed ("I changed my mind, cancel order A1005"
    -> "cancel order A1005")."""
    return " ".join(DISMISS.sub(" ", clean).split())


def is_handoff(clean: str) -> bool:
    """The customer asks for a person ("talk to a human", "agent", "customer service rep")."""
    return bool(HANDOFF.search(clean))


def is_skip(clean: str) -> bool:
    """The customer skips the open question ("skip", "pass", "I don't know")."""
    return bool(SKIP.search(clean))


def is_repeat(clean: str) -> bool:
    """The customer wants the last messages again ("say that again", "come again?")."""
    return bool(REPEAT.search(clean))


def is_chitchat(clean: str) -> bool:
    """Greetings, thanks and small talk about the assistant itself."""
    return bool(CHITCHAT.search(clean))


def is_question(text: str, clean: str) -> bool:
    """Ends with a question mark or starts with a question word."""
    first = clean.split(" ", 1)[0] if clean else ""
    return text.rstrip().endswith("?") or first in QUESTION_WORDS
