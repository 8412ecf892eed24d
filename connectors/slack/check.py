"""``helpdesk slack check``: is the Slack app set up? Token, scopes, channels, Socket Mode.

Every finding says what to do about it. The scopes wanted are read from the shipped
``manifest.yml``, so the check and the manifest never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from helpdesk.connectors.slack.people import parse_channels
from helpdesk.connectors.slack.sender import build_client
from helpdesk.settings import Settings

MANIFEST = Path(__file__).with_name("manifest.yml")


def required_scopes() -> list[str]:
    """The bot scopes the manifest asks for."""
    manifest = YAML(typ="safe").load(MANIFEST.read_text())
    return list(manifest["oauth_config"]["scopes"]["bot"])


@dataclass
class Report:
    """Findings, in order: (ok, text)."""

    findings: list[tuple[bool, str]] = field(default_factory=list)

    def good(self, text: str) -> None:
        self.findings.append((True, text))

    def bad(self, text: str) -> None:
        self.findings.append((False, text))

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.findings)

    def lines(self) -> list[str]:
        return [f"{'ok  ' if ok else 'FIX '} {text}" for ok, text in self.findings]


def check(settings: Settings, client: WebClient | None = None) -> Report:
    """Check the Slack settings against the workspace."""
    report = Report()
    if not settings.slack_bot_token:
        report.bad("SLACK_BOT_TOKEN is not set: install the app (OAuth & Permissions) and copy the xoxb- token")
        return report
    if not settings.slack_signing_secret and not settings.slack_app_token:
        report.bad("neither SLACK_SIGNING_SECRET (Events API) nor SLACK_APP_TOKEN (Socket Mode) is set")
    client = client or build_client(settings.slack_bot_token, settings.slack_api_url, max_inline_wait=2)
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        report.bad(f"SLACK_BOT_TOKEN is refused by Slack: {exc.response.get('error')}")
        return report
    report.good(f"token of @{auth.get('user')} (bot {auth.get('user_id')}) in {auth.get('team')} ({auth.get('team_id')})")
    _scopes(report, auth.headers)
    _channels(report, client, settings)
    if settings.slack_app_token:
        _socket_mode(report, settings)
    return report


def _scopes(report: Report, headers: dict[str, object]) -> None:
    granted_raw = next((str(v) for k, v in headers.items() if k.lower() == "x-oauth-scopes"), "")
    granted = {s.strip() for s in granted_raw.split(",") if s.strip()}
    missing = [s for s in required_scopes() if s not in granted]
    if missing:
        report.bad(f"missing scopes: {', '.join(missing)} — add them (OAuth & Permissions, or paste "
                   "connectors/slack/manifest.yml) and reinstall the app")
    else:
        report.good("all scopes of the manifest are granted")


def _channels(report: Report, client: WebClient, settings: Settings) -> None:
    try:
        modes = parse_channels(settings.slack_support_channels)
    except ValueError as exc:
        report.bad(str(exc))
        modes = {}
    if not modes:
        report.bad("HELPDESK_SLACK_SUPPORT_CHANNELS is empty: only DMs and @mentions reach the helpdesk")
    for channel, mode in modes.items():
        _channel(report, client, channel, f"support channel ({mode})")
    if settings.slack_agent_channel:
        _channel(report, client, settings.slack_agent_channel, "agents' channel")
    else:
        report.bad("HELPDESK_SLACK_AGENT_CHANNEL is not set: handoffs won't be posted to Slack")


def _channel(report: Report, client: WebClient, channel: str, role: str) -> None:
    try:
        info = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        report.bad(f"{role} {channel}: {exc.response.get('error')} — check the channel id "
                   "(channel details → About → Channel ID)")
        return
    name = f"#{info.get('name', channel)} ({channel})"
    if not info.get("is_member"):
        report.bad(f"{role} {name}: the app is not a member — type /invite @Helpdesk in the channel")
        return
    shared = " shared with another workspace" if info.get("is_ext_shared") else ""
    report.good(f"{role} {name}: the app is a member{shared}")


def _socket_mode(report: Report, settings: Settings) -> None:
    client = WebClient(token=settings.slack_app_token, base_url=settings.slack_api_url)
    try:
        client.apps_connections_open(app_token=settings.slack_app_token or "")
    except SlackApiError as exc:
        report.bad(f"SLACK_APP_TOKEN is refused: {exc.response.get('error')} — create an app-level token "
                   "with connections:write and enable Socket Mode")
        return
    report.good("Socket Mode: the app token opens connections")
