"""What the customer is told by the handoff itself (the assistant's own handoff message comes
from its ``utter_human_handoff`` response)."""

from __future__ import annotations

HANDOFF = "I'm connecting you with a member of our team. They'll see this conversation, so you won't need to repeat yourself."
POSITION = "You're number {position} in line."
WAIT = " The estimated wait is {wait}."
NO_ESTIMATE = " Someone will be with you shortly."
AGENT_JOINED = "{name} joined the conversation."
AGENT_LEFT = "{name} has left; you're back in line and the next available person will continue."
TRANSFERRED = "You've been transferred to {target}."
OFFLINE = ("Our team is offline right now; we're back {opening}. Leave your email address here and "
           "we'll reply to you by email.")
OFFLINE_NO_OPENING = "Our team is offline right now. Leave your email address here and we'll reply to you by email."
EMAIL_THANKS = "Thanks! We'll reply to {email} as soon as we're back."
EMAIL_AGAIN = "That doesn't look like an email address. Could you type it again (like name@example.com)?"
RESOLVED = "This conversation has been closed. Write again any time if you need anything else."
AUTO_RESOLVED = "We've closed this conversation as it has been quiet for a while. Write again any time."
RELEASED = "You're back with our assistant."


def wait_phrase(seconds: float) -> str:
    """"about 2 minutes", "about 1 minute", "less than a minute", "about 1 hour"."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 90:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    return f"about {hours} hours" if hours != 1 else "about 1 hour"


def position_text(position: int, wait_seconds: float | None) -> str:
    text = POSITION.format(position=position)
    if wait_seconds is None:
        return text + NO_ESTIMATE
    return text + WAIT.format(wait=wait_phrase(wait_seconds))


def find_email(text: str) -> str | None:
    """The first email address in ``text``, lower-cased; ``None`` when there is none."""
    import re

    match = re.search(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}", text)
    return match.group(0).lower() if match else None
