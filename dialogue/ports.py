"""What the executor needs from outside, injected so that the engine stays pure."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.actions.registry import ActionRunner, ChainedActions
from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.tracker import BotMessage, DialogueTracker

#: answers a knowledge question or small talk; returns the messages to send (empty: use the default)
Responder = Callable[[DialogueTracker], list[BotMessage]]


@dataclass
class Ports:
    """Collaborators of one engine: actions, randomness for response variations, answerers."""

    actions: ActionRunner = field(default_factory=lambda: ChainedActions([]))
    rng: random.Random = field(default_factory=random.Random)
    search: Responder | None = None
    chitchat: Responder | None = None


@dataclass
class Context:
    """Everything a step needs during one turn."""

    tracker: DialogueTracker
    flows: FlowsList
    domain: Domain
    ports: Ports
    domain_json: dict[str, Any] = field(default_factory=dict)
