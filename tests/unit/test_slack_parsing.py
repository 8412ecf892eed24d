"""Slack payloads → typed events, mrkdwn ⇄ plain text, Block Kit, signatures (no I/O)."""

from __future__ import annotations

import json

import pytest

from helpdesk.connectors.slack import blocks
from helpdesk.connectors.slack.events import (
    Clicked,
    Deleted,
    Edited,
    Identity,
    Ignored,
    Posted,
    Reacted,
    UrlVerification,
    parse_event,
    parse_interaction,
)
from helpdesk.connectors.slack.mrkdwn import escape, link, to_plain
from helpdesk.connectors.slack.people import parse_channels, safe_avatar
from helpdesk.connectors.slack.sender import Pacer, retry_after_of
from helpdesk.connectors.slack.threads import split_thread_key, thread_key
from helpdesk.connectors.slack.verify import RequestVerifier
from tests.fakes.slack_events import event_body, fixture, signed

ME = Identity(team_id="T_OURS", user_id="U_BOT", bot_id="B_BOT", app_id="A_APP")
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def test_url_verification() -> None:
    parsed = parse_event(fixture("url_verification"), ME)
    assert parsed == UrlVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")


def test_top_level_message_in_a_shared_channel() -> None:
    parsed = parse_event(fixture("message"), ME)
    assert isinstance(parsed, Posted)
    assert (parsed.channel, parsed.user, parsed.ts, parsed.thread_ts) == (
        "C_SUPPORT", "U_CUST", "1700000001.000100", None)
    assert parsed.team == "T_CUST" and parsed.root_ts == parsed.ts and not parsed.is_dm
    assert parsed.message_key == "slack:C_SUPPORT:1700000001.000100"


def test_thread_reply_keeps_its_root() -> None:
    parsed = parse_event(fixture("thread_reply"), ME)
    assert isinstance(parsed, Posted)
    assert parsed.thread_ts == "1700000001.000100" and parsed.root_ts == "1700000001.000100"


def test_dm() -> None:
    parsed = parse_event(fixture("dm"), ME)
    assert isinstance(parsed, Posted) and parsed.is_dm and parsed.channel == "D_CUST"


def test_app_mention_shares_the_message_key_of_its_message_event() -> None:
    mention = parse_event(fixture("app_mention"), ME)
    assert isinstance(mention, Posted) and mention.mention
    same = fixture("app_mention")
    same["event"]["type"] = "message"
    same["event_id"] = "Ev_OTHER"
    message = parse_event(same, ME)
    assert isinstance(message, Posted) and message.message_key == mention.message_key


@pytest.mark.parametrize(("name", "reason"), [
    ("bot_echo", "own message"), ("own_message", "own message"), ("other_bot", "bot message"),
    ("channel_join", "message subtype 'channel_join'"),
])
def test_bots_and_housekeeping_are_ignored(name: str, reason: str) -> None:
    parsed = parse_event(fixture(name), ME)
    assert isinstance(parsed, Ignored) and parsed.reason == reason


def test_own_message_is_ignored_even_without_knowing_the_bot_id() -> None:
    body = fixture("own_message")
    del body["event"]["bot_id"], body["event"]["bot_profile"]
    parsed = parse_event(body, ME)
    assert isinstance(parsed, Ignored) and parsed.reason == "own message"


def test_edit() -> None:
    parsed = parse_event(fixture("message_changed"), ME)
    assert parsed == Edited("Ev_EDIT", "C_SUPPORT", "U_CUST", "1700000050.000200", "Actually it is A1003",
                            "1700000300.000000", "1700000001.000100", "T_CUST")


def test_unfurl_is_not_an_edit() -> None:
    body = fixture("message_changed")
    body["event"]["message"]["text"] = body["event"]["previous_message"]["text"]
    assert isinstance(parse_event(body, ME), Ignored)


def test_deletion() -> None:
    parsed = parse_event(fixture("message_deleted"), ME)
    assert parsed == Deleted("Ev_DELETE", "C_SUPPORT", "1700000050.000200", "1700000001.000100", "U_CUST")


def test_reaction() -> None:
    parsed = parse_event(fixture("reaction_added"), ME)
    assert parsed == Reacted("Ev_REACTION", "C_SUPPORT", "U_STAFF", "ticket", "1700000500.000100", "U_CUST")


def test_file_share_carries_its_files() -> None:
    parsed = parse_event(fixture("file_share"), ME)
    assert isinstance(parsed, Posted) and [f["id"] for f in parsed.files] == ["F_LABEL"]


def test_block_action_click() -> None:
    parsed = parse_interaction(fixture("block_actions"))
    assert isinstance(parsed, Clicked)
    assert (parsed.user, parsed.channel, parsed.action_id, parsed.value, parsed.title) == (
        "U_CUST", "C_SUPPORT", "helpdesk_button_0", "/order_status", "Track order")
    assert parsed.root_ts == "1700000001.000100"


def test_message_shortcut() -> None:
    parsed = parse_interaction(fixture("message_action"))
    assert isinstance(parsed, Clicked) and parsed.action_id == blocks.SEND_TO_CUSTOMER
    assert parsed.message_text == "Your refund is on its way" and parsed.thread_ts == "1700000700.000100"


@pytest.mark.parametrize("body", [{}, {"type": "event_callback"}, {"type": "event_callback", "event": "x"},
                                  {"type": "event_callback", "event": {"type": "team_join"}}])
def test_unexpected_bodies_are_ignored_not_errors(body: dict[str, object]) -> None:
    assert isinstance(parse_event(body, ME), Ignored)


@pytest.mark.parametrize("payload", [{}, {"type": "view_submission"}, {"type": "block_actions", "actions": []}])
def test_unexpected_interactions_are_ignored(payload: dict[str, object]) -> None:
    assert isinstance(parse_interaction(payload), Ignored)


# --- mrkdwn -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mrkdwn", "plain"), [
    ("<@U1> hi", "@Ada hi"),
    ("<@U9|bob> hi", "@bob hi"),
    ("<@U404> hi", "@U404 hi"),
    ("see <https://x.io/a?b=1&amp;c=2|the docs>", "see the docs (https://x.io/a?b=1&c=2)"),
    ("<https://x.io>", "https://x.io"),
    ("<mailto:a@b.co|a@b.co>", "a@b.co"),
    ("<#C1|general> <!here> <!channel>", "#general @here @channel"),
    ("<!subteam^S1|@support>", "@support"),
    ("a &lt;b&gt; &amp; c", "a <b> & c"),
    ("&amp;lt;", "&lt;"),
    ("", ""),
])
def test_mrkdwn_to_plain(mrkdwn: str, plain: str) -> None:
    assert to_plain(mrkdwn, {"U1": "Ada"}.get) == plain


def test_plain_to_mrkdwn_escapes_control_characters() -> None:
    assert escape("<!channel> & <http://evil|bank>") == "&lt;!channel&gt; &amp; &lt;http://evil|bank&gt;"
    assert to_plain(escape("a < b & c > d")) == "a < b & c > d"
    assert link("https://x.io/?a=1", "A & B") == "<https://x.io/?a=1|A &amp; B>"


# --- Block Kit ----------------------------------------------------------------------------------

def test_bot_buttons_become_block_kit_buttons() -> None:
    rendered = blocks.message_blocks("Pick one <b>", [{"title": "Track order", "payload": "/order_status"},
                                                      {"title": "x" * 100, "payload": "/SetSlots(a=1)"}])
    assert rendered is not None
    assert rendered[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "Pick one &lt;b&gt;"}}
    buttons = rendered[1]["elements"]
    assert [b["value"] for b in buttons] == ["/order_status", "/SetSlots(a=1)"]
    assert [b["action_id"] for b in buttons] == ["helpdesk_button_0", "helpdesk_button_1"]
    assert len(buttons[1]["text"]["text"]) == 75
    assert blocks.message_blocks("just text") is None


def test_handoff_card_has_claim_and_resolve_until_claimed() -> None:
    card = blocks.HandoffCard(7, "Ada (Acme)", "slack", "Wants a refund for A1002", reason="customer_request")
    actions = card.blocks()[-1]
    assert [e["action_id"] for e in actions["elements"]] == [blocks.CLAIM, blocks.RESOLVE]
    assert all(e["value"] == "7" for e in actions["elements"])
    claimed = blocks.HandoffCard(7, "Ada", "slack", "", claimed_by="Grace")
    assert [e["action_id"] for e in claimed.blocks()[-1]["elements"]] == [blocks.RESOLVE]
    resolved = blocks.HandoffCard(7, "Ada", "slack", "", claimed_by="Grace", resolved_by="Grace")
    assert all(b["type"] != "actions" for b in resolved.blocks())
    assert "resolved by Grace" in resolved.text()


# --- signatures ---------------------------------------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize(("mutate", "problem"), [
    (lambda h, b: (h, b), None),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-Slack-Signature"}, b), "missing_headers"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-Slack-Request-Timestamp"}, b), "missing_headers"),
    (lambda h, b: ({**h, "X-Slack-Request-Timestamp": "yesterday"}, b), "bad_timestamp"),
    (lambda h, b: (h, b + b" "), "bad_signature"),
    (lambda h, b: ({**h, "X-Slack-Signature": "v0=" + "0" * 64}, b), "bad_signature"),
    (lambda h, b: (h, b"\xff\xfe"), "bad_signature"),
])
def test_signature_verification(mutate, problem) -> None:  # type: ignore[no-untyped-def]
    body = event_body(fixture("message"))
    headers, body = mutate(signed(SECRET, body, timestamp=NOW), body)
    assert RequestVerifier(SECRET, now=lambda: NOW).problem(body, headers) == problem


@pytest.mark.parametrize(("age", "problem"), [(299, None), (301, "stale_timestamp"), (-301, "stale_timestamp")])
def test_timestamps_older_than_five_minutes_are_refused(age: float, problem: str | None) -> None:
    body = json.dumps(fixture("message")).encode()
    headers = signed(SECRET, body, timestamp=NOW - age)
    assert RequestVerifier(SECRET, now=lambda: NOW).problem(body, headers) == problem


def test_wrong_secret_is_refused() -> None:
    body = event_body(fixture("message"))
    headers = signed("another-secret", body, timestamp=NOW)
    assert RequestVerifier(SECRET, now=lambda: NOW).problem(body, headers) == "bad_signature"


# --- settings, keys, pacing ---------------------------------------------------------------------

def test_support_channel_modes() -> None:
    assert parse_channels(" C1, C2=internal ,C3=Shared,") == {"C1": "auto", "C2": "internal", "C3": "shared"}
    assert parse_channels(None) == {}
    with pytest.raises(ValueError, match="C4=public"):
        parse_channels("C1,C4=public")


def test_thread_keys() -> None:
    assert split_thread_key(thread_key("C1", "123.456")) == ("C1", "123.456")
    with pytest.raises(ValueError):
        split_thread_key("widget-visitor")


def test_pacer_spaces_one_channel_only() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(1.0, clock=lambda: now[0], sleep=sleep)
    assert [pacer.wait("C1"), pacer.wait("C1"), pacer.wait("C2"), pacer.wait("C1")] == [0.0, 1.0, 0.0, 2.0]
    now[0] = 10.0
    assert pacer.wait("C1") == 0.0
    assert slept == [1.0, 2.0]


def test_retry_after_header() -> None:
    assert retry_after_of({"Retry-After": ["2"]}) == 2.0
    assert retry_after_of({"retry-after": "30"}) == 30.0
    assert retry_after_of({"Retry-After": "soon"}) is None
    assert retry_after_of(None) is None


@pytest.mark.parametrize(("url", "safe"), [
    ("https://avatars.slack-edge.com/2026-01-01/1_ada_192.png", True),
    ("https://ca.slack-edge.com/T0-U0-abc-512", True),
    ("https://secure.gravatar.com/avatar/ab.jpg?s=192&d=https%3A%2F%2Fa.slack-edge.com%2Fava_0001-192.png", True),
    ("javascript:alert(1)", False),
    ("JAVASCRIPT:alert(1)//https://avatars.slack-edge.com/", False),
    ("http://avatars.slack-edge.com/a.png", False),
    ("http://evil.example/a.png", False),
    ("https://evil.example/a.png", False),
    ("https://avatars.slack-edge.com.evil.example/a.png", False),
    ("https://evilslack-edge.com/a.png", False),
    ("https://user:pw@avatars.slack-edge.com/a.png", False),
    ("https://avatars.slack-edge.com:8443/a.png", False),
    ('https://avatars.slack-edge.com/a.png" onerror="x', False),
    ("data:image/png;base64,AAAA", False),
    ("//avatars.slack-edge.com/a.png", False),
    (None, False),
    (42, False),
])
def test_only_https_pictures_of_slacks_image_hosts_are_kept(url: object, safe: bool) -> None:
    assert safe_avatar(url) == (url if safe else None)
