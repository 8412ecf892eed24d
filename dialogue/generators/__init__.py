"""Understanding: command generators turn a customer message into commands (DESIGN §3).

The engine depends only on the :class:`CommandGenerator` port; the offline generator is the
embedded default that needs no key, the LLM generator lives beside it.
"""

from __future__ import annotations

from typing import Protocol

from helpdesk.dialogue.commands import Command
from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.tracker import DialogueTracker


class CommandGenerator(Protocol):
    """Proposes commands for one message; the engine cleans them before they run."""

    def predict(self, text: str, tracker: DialogueTracker, flows: FlowsList, domain: Domain) -> list[Command]:
        """Commands for ``text`` given the conversation so far (``tracker``, read only)."""
        ...


from helpdesk.dialogue.generators.offline import OfflineCommandGenerator, Thresholds  # noqa: E402

__all__ = [
    "CommandGenerator",
    "OfflineCommandGenerator",
    "Thresholds",
]
