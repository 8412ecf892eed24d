"""A Slack conversation in the agent dashboard (headless Chromium): the channel badge, the Slack
user's real name and profile picture (``users.info``) — a picture only from Slack's image hosts
over https; a hostile URL from the profile is never rendered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpdesk.conversations.store import get_conversation
from tests.browser.dashboard_helpers import needs_chromium, sign_in
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import serve
from tests.fakes.slack_events import event_body, fixture, signed
from tests.fakes.slack_server import FakeSlack
from tests.integration.test_handoff_support import add_agent
from tests.integration.test_slack_app import eventually
from tests.integration.test_slack_events import workspace

pytestmark = needs_chromium
SECRET = "dashboard-signing-secret"
AVATAR = "https://avatars.slack-edge.com/2026-01-01/1234_ada_192.png"
HOSTILE = {"U_CUST": "javascript:window.__pwned=1", "U_EVIL": "http://evil.example/x.png"}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        workspace(fake)
        fake.add_user("U_EVIL", "Mallory", team="T_CUST", image=HOSTILE["U_EVIL"])
        profile = fake.workspace.users["U_CUST"]["profile"]
        profile.update(display_name="ada", real_name="Ada Lovelace", image_192=AVATAR)
        yield fake


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path, slack: FakeSlack) -> Iterator[LiveServer]:
    with serve(sqlite_url, tmp_path, timers_in_web=False, slack_bot_token=slack.token, slack_signing_secret=SECRET,
               slack_api_url=slack.api_url, slack_support_channels="C_SUPPORT", slack_agent_channel="C_AGENTS",
               slack_pace_seconds=0, handoff_assignment="manual", outbox_interval=0.2) as live:
        add_agent(live.app, "ada@example.com", name="Ada", role="admin", presence="away")
        yield live


def _hand_over(server: LiveServer, user: str, ts: str) -> int:
    data = fixture("message")
    data["event_id"] = f"Ev_{user}"
    data["event"].update(text="I want to talk to a human", ts=ts, user=user, team="T_CUST", user_team="T_CUST")
    body = event_body(data)
    assert httpx.post(server.url + "/slack/events", content=body, headers=signed(SECRET, body), timeout=30).is_success
    db = server.app.extensions["helpdesk"].db
    found = eventually(lambda: (c := get_conversation(db, "slack", f"C_SUPPORT:{ts}")) and c.status == "queued" and c)
    return int(found.id)


def test_a_slack_customer_shows_with_their_real_name_picture_and_the_channel_badge(
        server: LiveServer, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    cid = _hand_over(server, "U_CUST", "1700000001.000100")
    sign_in(page, server.url, "ada@example.com")
    page.locator(f'[data-cid="{cid}"]').click()
    expect(page.locator("#conv-channel")).to_contain_text("Slack")
    expect(page.locator("#customer")).to_contain_text("Ada Lovelace")  # the real name, beside the display name
    expect(page.locator("#customer")).to_contain_text("ada")
    expect(page.locator("#customer-avatar")).to_be_visible()
    expect(page.locator("#customer-avatar")).to_have_attribute("src", AVATAR)


def test_a_hostile_profile_picture_url_is_never_rendered(server: LiveServer, slack: FakeSlack, page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    slack.workspace.users["U_CUST"]["profile"]["image_192"] = HOSTILE["U_CUST"]
    first = _hand_over(server, "U_CUST", "1700000001.000100")
    second = _hand_over(server, "U_EVIL", "1700000002.000100")
    sign_in(page, server.url, "ada@example.com")
    for cid in (first, second):
        page.locator(f'[data-cid="{cid}"]').click()
        expect(page.locator("#conv-channel")).to_contain_text("Slack")
        expect(page.locator("#customer-avatar")).to_be_hidden()
        assert page.locator("#customer-avatar").get_attribute("src") is None
    assert page.evaluate("window.__pwned") is None
    assert not page.locator('img[src^="javascript"], img[src^="http://evil"]').count()
