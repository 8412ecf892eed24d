"""Custom actions served by a real rasa-sdk action server in the integration tests.

Started by the ``action_server`` fixture (``tests/integration/conftest.py``) as
``.venv-actions/bin/python -m rasa_sdk --actions actions`` with this folder as the working
directory. This module runs in the rasa-sdk venv, never in the app's venv, so pytest must
not import it (its name does not start with ``test_``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import BotUttered, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection
from rasa_sdk.types import DomainDict

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ActionCheckBalance(Action):
    """Reads slot ``account``; sets ``balance`` and says it."""

    def name(self) -> str:
        return "action_check_balance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        account = tracker.get_slot("account")
        dispatcher.utter_message(text="Your balance is 42.5")
        return [SlotSet("balance", 42.5), SlotSet("checked_account", account)]


class ActionButtons(Action):
    """Names a domain response and adds buttons to it."""

    def name(self) -> str:
        return "action_buttons"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            response="utter_greet",
            buttons=[
                {"title": "Yes", "payload": "/affirm"},
                {"title": "No", "payload": "/deny"},
            ],
            name="Ada",
        )
        return []


class ActionFail(Action):
    """Raises: rasa-sdk answers HTTP 500."""

    def name(self) -> str:
        return "action_fail"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        raise RuntimeError("database unreachable")


class ActionSlow(Action):
    """Takes 3 s without blocking the server's event loop."""

    def name(self) -> str:
        return "action_slow"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        await asyncio.sleep(3)
        dispatcher.utter_message(text="finally done")
        return []


class ActionTenSeconds(Action):
    """Takes 10 s (the default action timeout) without blocking the server's event loop."""

    def name(self) -> str:
        return "action_ten_seconds"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        await asyncio.sleep(10)
        dispatcher.utter_message(text="done after 10 s")
        return []


class ActionReject(Action):
    """Rejects execution: rasa-sdk answers HTTP 400."""

    def name(self) -> str:
        return "action_reject"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        raise ActionExecutionRejection(self.name(), "account is locked")


class ValidateEmail(Action):
    """A CALM ``validate_<slot>`` action: resets ``email`` to None when invalid."""

    def name(self) -> str:
        return "validate_email"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        email = tracker.get_slot("email")
        if isinstance(email, str) and EMAIL_PATTERN.match(email):
            return [SlotSet("email", email.lower())]
        dispatcher.utter_message(response="utter_invalid_email", value=email)
        return [SlotSet("email", None)]


class ActionManyEvents(Action):
    """Returns several event kinds in one answer."""

    def name(self) -> str:
        return "action_many_events"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        return [
            SlotSet("ticket_id", "T-1"),
            BotUttered(text="Ticket T-1 created", data={"ticket": "T-1"}),
            FollowupAction("action_listen"),
        ]


class ActionDescribeCall(Action):
    """Echoes what the server received: proves the tracker and domain reached it intact."""

    def name(self) -> str:
        return "action_describe_call"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        return [
            SlotSet("seen_sender", tracker.sender_id),
            SlotSet("seen_text", tracker.latest_message.get("text")),
            SlotSet("seen_flows", [frame.get("flow_id") for frame in tracker.stack]),
            SlotSet("seen_domain_slots", sorted(domain.get("slots", {}))),
        ]
