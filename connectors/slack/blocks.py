"""Block Kit for what we post: bot messages with buttons, and the agents' handoff card.

Limits from https://docs.slack.dev/reference/block-kit/blocks: a section's text is at most
3000 characters, a button's text 75 and its value 2000, an actions block holds 25 elements.
The ``text`` sent next to ``blocks`` is the notification and screen-reader fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from helpdesk.connectors.slack.mrkdwn import escape

#: action ids of the buttons we render (interactions are routed by them)
BOT_BUTTON = "helpdesk_button"
CLAIM = "helpdesk_claim"
RESOLVE = "helpdesk_resolve"
#: the message shortcut (callback id) that sends an agent's thread message to the customer
SEND_TO_CUSTOMER = "helpdesk_send_to_customer"

_SECTION_MAX, _BUTTON_TEXT_MAX, _BUTTON_VALUE_MAX, _ACTIONS_MAX = 3000, 75, 2000, 25
Block = dict[str, Any]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(mrkdwn, _SECTION_MAX)}}


def _button(title: str, value: str, action_id: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": _clip(title or value, _BUTTON_TEXT_MAX),
                                                "emoji": True},
                     "value": value[:_BUTTON_VALUE_MAX], "action_id": action_id}
    if style:
        button["style"] = style
    return button


def message_blocks(text: str | None, buttons: Sequence[dict[str, Any]] = (), image: str | None = None
                   ) -> list[Block] | None:
    """Blocks for a bot or agent message (plain ``text``); None when plain text says it all."""
    if not buttons and not image:
        return None
    blocks: list[Block] = []
    if text:
        blocks.append(_section(escape(text)))
    if image:
        blocks.append({"type": "image", "image_url": image, "alt_text": _clip(text or "image", 2000)})
    elements = [_button(str(b.get("title") or ""), str(b.get("payload") or b.get("title") or ""),
                        f"{BOT_BUTTON}_{i}") for i, b in enumerate(buttons[:_ACTIONS_MAX])]
    if elements:
        blocks.append({"type": "actions", "block_id": "helpdesk_buttons", "elements": elements})
    return blocks


@dataclass(frozen=True)
class HandoffCard:
    """What the agents' channel sees when a conversation is handed to people."""

    conversation_id: int
    customer: str
    channel: str
    summary: str
    reason: str = ""
    link: str | None = None
    """The conversation in the dashboard, when the public URL is known."""
    claimed_by: str | None = None
    resolved_by: str | None = None

    def text(self) -> str:
        """The notification text (and the fallback where blocks don't show)."""
        state = (f" — resolved by {self.resolved_by}" if self.resolved_by
                 else f" — claimed by {self.claimed_by}" if self.claimed_by else "")
        return f"Handoff #{self.conversation_id}: {self.customer} on {self.channel}{state}"

    def blocks(self) -> list[Block]:
        title = f"*Handoff #{self.conversation_id}* · {escape(self.customer)} · _{escape(self.channel)}_"
        blocks: list[Block] = [_section(title)]
        if self.summary:
            blocks.append(_section(escape(self.summary)))
        context = [f"reason: {escape(self.reason)}"] if self.reason else []
        if self.link:
            context.append(f"<{self.link}|open in the dashboard>")
        if self.resolved_by:
            context.append(f":white_check_mark: resolved by {escape(self.resolved_by)}")
        elif self.claimed_by:
            context.append(f":raising_hand: claimed by {escape(self.claimed_by)}")
        context.append("Reply in this thread: plain messages are internal notes; start with "
                       "`!reply` (or use the *Send to customer* shortcut) to answer the customer.")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": c} for c in context]})
        if not self.resolved_by:
            value = str(self.conversation_id)
            buttons = [] if self.claimed_by else [_button("Claim", value, CLAIM, "primary")]
            buttons.append(_button("Resolve", value, RESOLVE))
            blocks.append({"type": "actions", "block_id": "helpdesk_handoff", "elements": buttons})
        return blocks
