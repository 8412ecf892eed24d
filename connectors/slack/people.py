"""Who is who in Slack: names and avatars (``users.info``, cached) and the customer / staff rule.

Two kinds of support channel, chosen per channel in ``HELPDESK_SLACK_SUPPORT_CHANNELS``:

* ``shared`` (Slack Connect): people of other workspaces are customers, members of our own
  workspace are staff (a staff member writing in a customer's thread is an agent taking over);
* ``internal`` (employees asking IT or HR): everyone is a customer except the agents — the
  members of ``HELPDESK_SLACK_AGENT_CHANNEL``;
* ``auto`` (the default): ``shared`` when ``conversations.info`` says the channel is shared with
  another workspace, else ``internal``.

Direct messages to the app always come from a customer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)
Mode = Literal["shared", "internal", "auto"]
Role = Literal["customer", "staff"]
MODES = ("shared", "internal", "auto")


@dataclass(frozen=True)
class SlackUser:
    """A Slack user as ``users.info`` describes them."""

    id: str
    name: str
    """The name people see: display name, else real name, else the handle, else the id."""
    real_name: str | None = None
    email: str | None = None
    team_id: str | None = None
    image: str | None = None
    is_bot: bool = False

    @classmethod
    def from_api(cls, user: dict[str, Any]) -> SlackUser:
        profile = user.get("profile") or {}
        name = (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                or user.get("name") or user.get("id"))
        image = profile.get("image_192") or profile.get("image_72") or profile.get("image_48")
        return cls(str(user.get("id")), str(name), profile.get("real_name") or user.get("real_name"),
                   profile.get("email"), user.get("team_id"), image, bool(user.get("is_bot")))


#: where Slack serves profile pictures (``avatars.slack-edge.com``, ``a.slack-edge.com``…) and
#: its default avatars (Gravatar); the dashboard's Content-Security-Policy allows the same hosts
AVATAR_HOSTS = ("slack-edge.com", "secure.gravatar.com")


def safe_avatar(url: object) -> str | None:
    """``url`` when it is an https URL of Slack's image hosts (no credentials, the default port),
    else None: only such URLs are stored and shown in the dashboard."""
    if not isinstance(url, str) or len(url) > 1000 or any(c in url for c in "\"'<> \t\r\n"):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return None
    if not any(host == allowed or host.endswith("." + allowed) for allowed in AVATAR_HOSTS):
        return None
    return url


class _TtlCache:
    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl, self._clock = ttl, clock
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        now = self._clock()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        value = load()  # outside the lock: a Slack call must not block other lookups
        with self._lock:
            self._items[key] = (now, value)
        return value


class Directory:
    """Slack users, channel kinds and the agents' channel members, each cached for ``ttl`` seconds.

    Args:
        client: the bot's ``WebClient``.
        ttl: seconds a looked-up user or channel stays cached.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, client: WebClient, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._users = _TtlCache(ttl, clock)
        self._channels = _TtlCache(ttl, clock)
        self._members = _TtlCache(min(ttl, 300.0), clock)

    def user(self, user_id: str) -> SlackUser:
        """The user (``users.info``, cached); a bare id when Slack can't say (never raises)."""
        return self._users.get(user_id, lambda: self._load_user(user_id))

    def name(self, user_id: str) -> str | None:
        """For ``mrkdwn.to_plain``: the user's name."""
        return self.user(user_id).name

    def _load_user(self, user_id: str) -> SlackUser:
        try:
            response = self._client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("slack.users_info.failed", extra={"user": user_id, "error": str(exc)})
            return SlackUser(user_id, user_id)
        return SlackUser.from_api(response.get("user") or {"id": user_id})

    def is_shared(self, channel: str) -> bool:
        """Whether the channel is shared with another workspace (``conversations.info``, cached)."""
        return bool(self._channels.get(channel, lambda: self._load_shared(channel)))

    def _load_shared(self, channel: str) -> bool:
        try:
            info = self._client.conversations_info(channel=channel).get("channel") or {}
        except SlackApiError as exc:
            log.warning("slack.conversations_info.failed", extra={"channel": channel, "error": str(exc)})
            return False
        return bool(info.get("is_ext_shared") or info.get("is_shared") or info.get("is_pending_ext_shared"))

    def members(self, channel: str) -> frozenset[str]:
        """The member ids of a channel (``conversations.members``, all pages, cached briefly)."""
        return self._members.get(channel, lambda: self._load_members(channel))

    def member_named(self, channel: str, name: str) -> SlackUser | None:
        """The member of ``channel`` (the agents' channel) whose name or real name is ``name``."""
        wanted = name.strip().lower()
        for user_id in sorted(self.members(channel)):
            user = self.user(user_id)
            if wanted in (user.name.lower(), (user.real_name or "").lower()):
                return user
        return None

    def _load_members(self, channel: str) -> frozenset[str]:
        members: set[str] = set()
        try:
            for page in self._client.conversations_members(channel=channel, limit=200):
                members.update(page.get("members") or [])
        except SlackApiError as exc:
            log.warning("slack.conversations_members.failed", extra={"channel": channel, "error": str(exc)})
        return frozenset(members)


@dataclass(frozen=True)
class RoleRules:
    """Decides whether a Slack author is a customer or staff, per channel.

    Args:
        our_team: returns our workspace id (``auth.test``'s ``team_id``).
        modes: support channel id → its mode.
        agent_channel: the agents' channel; its members are the agents.
        directory: looks users, channels and members up.
    """

    our_team: Callable[[], str]
    modes: dict[str, Mode]
    agent_channel: str | None
    directory: Directory

    def mode(self, channel: str) -> Literal["shared", "internal"]:
        mode = self.modes.get(channel, "auto")
        if mode == "auto":
            return "shared" if self.directory.is_shared(channel) else "internal"
        return mode

    def role(self, channel: str, user_id: str, team: str | None, *, dm: bool = False) -> Role:
        """``customer`` or ``staff`` for a message by ``user_id`` (of workspace ``team``)."""
        if dm:
            return "customer"
        if self.mode(channel) == "shared":
            team = team or self.directory.user(user_id).team_id
            return "staff" if team == self.our_team() else "customer"
        return "staff" if self.is_agent(user_id) else "customer"

    def is_agent(self, user_id: str) -> bool:
        """A member of the agents' channel."""
        return bool(self.agent_channel) and user_id in self.directory.members(self.agent_channel or "")


def parse_channels(spec: str | None) -> dict[str, Mode]:
    """``"C1,C2=internal,C3=shared"`` → ``{"C1": "auto", "C2": "internal", "C3": "shared"}``.

    Raises:
        ValueError: naming the entry with an unknown mode or no channel id.
    """
    modes: dict[str, Mode] = {}
    for entry in (spec or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        channel, _, mode = entry.partition("=")
        channel, mode = channel.strip(), (mode.strip().lower() or "auto")
        if not channel or mode not in MODES:
            raise ValueError(f"HELPDESK_SLACK_SUPPORT_CHANNELS: bad entry {entry!r} "
                             f"(expected CHANNEL_ID or CHANNEL_ID=shared|internal|auto)")
        modes[channel] = mode  # type: ignore[assignment]
    return modes
