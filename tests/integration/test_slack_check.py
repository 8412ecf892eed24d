"""``helpdesk slack check`` against the loopback Slack API: what is fine, what to fix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from helpdesk.cli import cli
from helpdesk.connectors.slack.check import required_scopes
from tests.fakes.slack_server import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(socket_url="ws://127.0.0.1:1/") as server:
        server.add_channel("C_SUPPORT", name="support", shared=True)
        server.add_channel("C_AGENTS", name="agents")
        yield server


def run(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[int, str]:
    base = {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": "s3cret", "HELPDESK_SLACK_API_URL": slack.api_url,
            "HELPDESK_SLACK_SUPPORT_CHANNELS": "C_SUPPORT", "HELPDESK_SLACK_AGENT_CHANNEL": "C_AGENTS"}
    for key, value in {**base, **env}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["slack", "check"])
    return result.exit_code, result.output


def test_a_complete_setup_passes(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run(slack, monkeypatch, SLACK_APP_TOKEN=slack.app_token)
    assert code == 0, output
    assert "token of @helpdesk (bot U_BOT)" in output
    assert "support channel (auto) #support (C_SUPPORT): the app is a member shared with another workspace" in output
    assert "agents' channel #agents (C_AGENTS): the app is a member" in output
    assert "Socket Mode: the app token opens connections" in output
    assert "FIX" not in output


def test_missing_scopes_and_membership_are_named(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    slack.workspace.scopes = "chat:write,channels:history"
    slack.add_channel("C_AGENTS", name="agents", is_member=False)
    code, output = run(slack, monkeypatch, HELPDESK_SLACK_SUPPORT_CHANNELS="C_SUPPORT,C_NOPE=internal")
    assert code == 1
    assert "missing scopes: app_mentions:read, channels:read," in output
    assert "chat:write," not in output.split("missing scopes:")[1].splitlines()[0]
    assert "support channel (internal) C_NOPE: channel_not_found" in output
    assert "#agents (C_AGENTS): the app is not a member — type /invite @Helpdesk" in output


def test_a_bad_token_or_missing_settings(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run(slack, monkeypatch, SLACK_BOT_TOKEN="xoxb-wrong")
    assert code == 1 and "SLACK_BOT_TOKEN is refused by Slack: invalid_auth" in output
    code, output = run(slack, monkeypatch, SLACK_BOT_TOKEN="")
    assert code == 1 and "SLACK_BOT_TOKEN is not set" in output
    code, output = run(slack, monkeypatch, SLACK_APP_TOKEN="xapp-wrong", HELPDESK_SLACK_SUPPORT_CHANNELS="C_SUPPORT=odd")
    assert code == 1
    assert "bad entry 'C_SUPPORT=odd'" in output and "SLACK_APP_TOKEN is refused: invalid_auth" in output


def test_the_manifest_asks_for_what_the_connector_uses() -> None:
    scopes = required_scopes()
    for scope in ("chat:write", "chat:write.customize", "users:read.email", "reactions:read", "files:read",
                  "channels:history", "im:history", "app_mentions:read"):
        assert scope in scopes


@pytest.mark.parametrize(("values", "enabled"), [
    ({}, False), ({"slack_bot_token": "xoxb-1"}, False),
    ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}, True),
    ({"slack_bot_token": "xoxb-1", "slack_app_token": "xapp-1"}, True),
    ({"slack_signing_secret": "s", "slack_app_token": "xapp-1"}, False),
])
def test_the_slack_connector_is_mounted_only_when_configured(values: dict[str, str], enabled: bool) -> None:
    from helpdesk.connectors.registry import enabled_connectors
    from helpdesk.settings import Settings

    names = [c.name for c in enabled_connectors(Settings(**values))]
    assert ("slack" in names) is enabled
