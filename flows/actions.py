"""Python actions of the Northwind Outfitters demo assistant.

The actions look orders and accounts up in ``demo_data.json`` beside this file and answer
with slot events; the flows decide what the bot says. Nothing is ever written: an action
that would change an order in a real shop (create a return, cancel an order, ...) returns
an identifier derived from the order number instead, so every run sees the same data and
the same ids. To connect a real shop, replace the ``_order``/``_account_exists`` look-ups
and the mutating actions with calls to your order and account systems.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from helpdesk.dialogue.sdk import Action, CollectingDispatcher, SlotSet, Tracker

EventList = list[dict[str, Any]]

_DATA_FILE = Path(__file__).with_name("demo_data.json")
_ORDER_NUMBER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z])?[\s#-]{0,2}(\d{4,6})(?!\d)")
_DEFAULT_ORDER_PREFIX = "A"
_ORDER_DETAIL_SLOTS = (
    "order_status",
    "order_summary",
    "order_items",
    "delivery_date",
    "carrier",
    "tracking_url",
    "shipping_address",
)
_RETURNS_URL = "https://returns.northwind-outfitters.example/label/"
# English names, independent of the process locale (strftime's %A/%B are not).
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@lru_cache(maxsize=1)
def demo_data() -> dict[str, Any]:
    """The demo shop's orders and accounts, read once on first use."""
    with _DATA_FILE.open(encoding="utf-8") as file:
        data: dict[str, Any] = json.load(file)
    return data


def normalise_order_number(raw: object) -> str | None:
    """``"#A1042"``, ``"a1042"``, ``"A-1042"`` or ``"1042"`` -> ``"A1042"``; None if no number."""
    if not isinstance(raw, str):
        return None
    match = _ORDER_NUMBER.search(raw.replace("#", " "))
    if match is None:
        return None
    prefix = (match.group(1) or _DEFAULT_ORDER_PREFIX).upper()
    return f"{prefix}{match.group(2)}"


def _order(number: str | None) -> dict[str, Any] | None:
    orders: dict[str, dict[str, Any]] = demo_data()["orders"]
    return orders.get(number) if number else None


def _account_exists(email: object) -> bool:
    if not isinstance(email, str):
        return False
    wanted = email.strip().lower()
    return any(account["email"] == wanted for account in demo_data()["accounts"])


def _send_reset_link(email: str) -> None:
    """Stand-in for the shop's account service, which would email a reset link here."""


def _format_date(iso_date: str | None) -> str | None:
    """``"2025-06-12"`` -> ``"Thursday 12 June 2025"``."""
    if not iso_date:
        return None
    day = date.fromisoformat(iso_date)
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _summary(order: dict[str, Any]) -> str:
    """The first item's name, plus how many more items the order holds."""
    items = order["items"]
    first = str(items[0]["name"])
    extra = sum(item["quantity"] for item in items) - 1
    if extra == 0:
        return first
    return f"{first} and {extra} more item{'s' if extra > 1 else ''}"


def _total(order: dict[str, Any]) -> float:
    total = sum((float(item["price"]) * int(item["quantity"]) for item in order["items"]), 0.0)
    return round(total, 2)


def _delivery_date(order: dict[str, Any]) -> str | None:
    """When the order arrived, or when it is (now) expected to."""
    if order["status"] == "delivered":
        return _format_date(order["delivered_on"])
    return _format_date(order.get("revised_eta") or order["eta"])


def _order_slots(order: dict[str, Any] | None) -> dict[str, Any]:
    """The slots describing ``order``; all None (and ``order_found`` false) when unknown."""
    if order is None:
        return {"order_found": False} | dict.fromkeys(_ORDER_DETAIL_SLOTS)
    return {
        "order_found": True,
        "order_status": order["status"],
        "order_summary": _summary(order),
        "order_items": [item["name"] for item in order["items"]],
        "delivery_date": _delivery_date(order),
        "carrier": order["carrier"],
        "tracking_url": order["tracking_url"],
        "shipping_address": order["shipping_address"],
    }


def _lookup(tracker: Tracker) -> tuple[dict[str, Any] | None, EventList]:
    """Find the order named by the ``order_number`` slot and describe it as slot events.

    Every order slot is set, to None when the order is unknown, so nothing stale from an
    earlier flow leaks into the answer. A recognisable but oddly written number is
    rewritten in its normal form (``#a1042`` -> ``A1042``).
    """
    raw = tracker.get_slot("order_number")
    number = normalise_order_number(raw)
    order = _order(number)
    events = [SlotSet(name, value) for name, value in _order_slots(order).items()]
    if number and number != raw:
        events.insert(0, SlotSet("order_number", number))
    return order, events


class LookupOrder(Action):
    """Look the order up (used by the ``verify_order`` helper flow)."""

    def name(self) -> str:
        return "action_lookup_order"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        return _lookup(tracker)[1]


class CheckOrderStatus(Action):
    """Look the order up to report its status, delivery date and tracking link."""

    def name(self) -> str:
        return "action_check_order_status"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        return _lookup(tracker)[1]


class CheckCancellable(Action):
    """Only orders still being processed can be cancelled."""

    def name(self) -> str:
        return "action_check_cancellable"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        order, events = _lookup(tracker)
        cancellable = order is not None and order["status"] == "processing"
        refund = _total(order) if order is not None else None
        return [
            *events,
            SlotSet("order_cancellable", cancellable),
            SlotSet("refund_amount", refund),
        ]


class CancelOrder(Action):
    """Cancel the order (demo: nothing is stored) and mark it cancelled in the conversation."""

    def name(self) -> str:
        return "action_cancel_order"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        return [SlotSet("order_status", "cancelled"), SlotSet("order_cancellable", False)]


class UpdateAddress(Action):
    """Change the order's delivery address (demo: only the conversation sees the change)."""

    def name(self) -> str:
        return "action_update_address"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        return [SlotSet("shipping_address", tracker.get_slot("new_address"))]


class CheckReturnEligibility(Action):
    """Delivered orders can be returned within 30 days (stored as ``return_eligible``)."""

    def name(self) -> str:
        return "action_check_return_eligibility"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        order, events = _lookup(tracker)
        eligible = bool(order and order["status"] == "delivered" and order["return_eligible"])
        return [*events, SlotSet("return_eligible", eligible)]


class CreateReturn(Action):
    """Create the return: its number is derived from the order number (``RMA-A1002``)."""

    def name(self) -> str:
        return "action_create_return"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        return_id = f"RMA-{normalise_order_number(tracker.get_slot('order_number'))}"
        label_url = _RETURNS_URL + return_id
        return [SlotSet("return_id", return_id), SlotSet("return_label_url", label_url)]


class CheckDelivery(Action):
    """Fetch the carrier's latest scan and the (revised) delivery date."""

    def name(self) -> str:
        return "action_check_delivery"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        order, events = _lookup(tracker)
        return [*events, SlotSet("latest_scan", order["latest_scan"] if order else None)]


class ReshipOrder(Action):
    """Send a replacement parcel: its order number is the original one plus ``-R``."""

    def name(self) -> str:
        return "action_reship_order"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        number = normalise_order_number(tracker.get_slot("order_number"))
        return [SlotSet("reship_order_number", f"{number}-R")]


class SendPasswordReset(Action):
    """Send a reset link when an account exists for ``account_email``.

    The flow answers the same either way, so the chat never reveals which addresses have an
    account. The demo sends no email: a real shop calls its account service here.
    """

    def name(self) -> str:
        return "action_send_password_reset"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        email = tracker.get_slot("account_email")
        if _account_exists(email):
            _send_reset_link(email)
        return []


class ChangeEmail(Action):
    """Request the email change; the customer confirms it from the new mailbox."""

    def name(self) -> str:
        return "action_change_email"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        return [SlotSet("email_changed", _account_exists(tracker.get_slot("current_email")))]


class CreateTicket(Action):
    """Open a support ticket; its id is a checksum of the report, so it is stable."""

    def name(self) -> str:
        return "action_create_ticket"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        report = f"{tracker.get_slot('problem_area')}|{tracker.get_slot('problem_description')}"
        ticket_number = zlib.crc32(report.encode("utf-8")) % 90000 + 10000
        return [SlotSet("ticket_id", f"NW-{ticket_number}")]
