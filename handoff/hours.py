"""Business hours: a weekly schedule in a time zone.

A schedule maps weekday keys (``mon`` … ``sun``) to lists of ``["HH:MM", "HH:MM"]`` ranges; a
missing or empty day is closed, and no schedule at all means always open. The settings give a
default in a short form (``"mon-fri 09:00-17:00; sat 10:00-14:00"``); admins may store one per
team (``PUT /api/v1/business-hours``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpdesk.handoff.errors import Invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True)
class Hours:
    """A validated weekly schedule; ``always_open`` when none is configured."""

    timezone: str = "UTC"
    schedule: dict[str, list[list[str]]] = field(default_factory=dict)
    always_open: bool = False

    def is_open(self, now: datetime) -> bool:
        if self.always_open:
            return True
        local = now.astimezone(ZoneInfo(self.timezone))
        return any(start <= local.time() < end for start, end in self._ranges(local.weekday()))

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment the team is open (``now`` when open); ``None`` with no open day."""
        if self.is_open(now):
            return now
        local = now.astimezone(ZoneInfo(self.timezone))
        for days in range(8):
            day = (local + timedelta(days=days)).date()
            for start, _end in self._ranges(day.weekday()):
                opening = datetime.combine(day, start, tzinfo=ZoneInfo(self.timezone))
                if opening > local:
                    return opening
        return None

    def describe_opening(self, now: datetime) -> str | None:
        """``"on Monday at 09:00 (Europe/Berlin)"``, for the off-hours message."""
        opening = self.next_opening(now)
        if opening is None:
            return None
        return f"on {opening.strftime('%A')} at {opening.strftime('%H:%M')} ({self.timezone})"

    def _ranges(self, weekday: int) -> list[tuple[time, time]]:
        return [(_time(a), _time(b)) for a, b in self.schedule.get(DAYS[weekday], [])]

    def as_json(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "schedule": self.schedule, "always_open": self.always_open}


def _time(text: str) -> time:
    hours, minutes = (int(p) for p in text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


def validate(timezone: Any, schedule: Any) -> Hours:
    """Check a time zone name and a JSON schedule.

    Raises:
        Invalid: with what is wrong.
    """
    if not isinstance(timezone, str):
        raise Invalid("'timezone' must be a time zone name like 'Europe/Berlin'", code="invalid_timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {timezone!r}", code="invalid_timezone") from exc
    if not isinstance(schedule, dict) or set(schedule) - set(DAYS):
        raise Invalid(f"'schedule' must map days ({', '.join(DAYS)}) to [[\"09:00\", \"17:00\"], ...]",
                      code="invalid_schedule")
    clean: dict[str, list[list[str]]] = {}
    for day, ranges in schedule.items():
        clean[day] = [_check_range(day, r) for r in (ranges or [])]
    return Hours(timezone, clean)


def _check_range(day: str, value: Any) -> list[str]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, str) and _RANGE.match(v) for v in value) or value[0] >= value[1]):
        raise Invalid(f"{day}: each range is [\"HH:MM\", \"HH:MM\"] with start before end, got {value!r}",
                      code="invalid_schedule")
    return [value[0], value[1]]


def parse_short(text: str | None, timezone: str) -> Hours:
    """Parse the settings form: ``"mon-fri 09:00-17:00; sat 10:00-14:00"`` (empty: always open)."""
    if not text or not text.strip():
        return Hours(timezone, {}, always_open=True)
    schedule: dict[str, list[list[str]]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = re.fullmatch(r"([a-z]{3})(?:-([a-z]{3}))?\s+(\d\d:\d\d)-(\d\d:\d\d)", part.lower())
        if not match or match.group(1) not in DAYS or (match.group(2) or "mon") not in DAYS:
            raise Invalid(f"business hours: cannot read {part!r} (use 'mon-fri 09:00-17:00')",
                          code="invalid_schedule")
        first = DAYS.index(match.group(1))
        last = DAYS.index(match.group(2)) if match.group(2) else first
        for day in DAYS[first:last + 1]:
            schedule.setdefault(day, []).append([match.group(3), match.group(4)])
    return validate(timezone, schedule)
