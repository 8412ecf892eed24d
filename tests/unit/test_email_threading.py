"""Reply tokens, threading decisions and the composed reply's headers (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from email import message_from_bytes, policy

import pytest

from helpdesk.connectors.email.compose import OutgoingEmail, compose, reply_subject, to_html
from helpdesk.connectors.email.loops import over_hourly_cap
from helpdesk.connectors.email.parsing import parse_email
from helpdesk.connectors.email.threads import resolve_thread
from helpdesk.connectors.email.tokens import ReplyTokens, SupportAddress, new_message_id

SUPPORT = SupportAddress.parse("support@shop.example")
TOKENS = ReplyTokens("app-secret", SUPPORT)


class Lookup:
    """Threading's storage port over two dicts (the SQL one is tested in integration)."""

    def __init__(self, ids: dict[str, int], people: dict[int, set[str]]) -> None:
        self.ids, self.people = ids, people

    def conversation_of(self, message_ids: Sequence[str]) -> int | None:
        return next((self.ids[m] for m in message_ids if m in self.ids), None)

    def participants(self, conversation_id: int) -> set[str]:
        return self.people.get(conversation_id, set())


LOOKUP = Lookup({"<ours-1@shop.example>": 7, "<ours-2@shop.example>": 9},
                {7: {"jane@example.org"}, 9: {"bob@example.org"}})


def mail(sender: str, to: str, *, in_reply_to: str = "", references: str = "") -> bytes:
    headers = f"From: {sender}\r\nTo: {to}\r\nSubject: Re: help\r\nMessage-ID: <m-{abs(hash(sender + to))}@x>\r\n"
    if in_reply_to:
        headers += f"In-Reply-To: {in_reply_to}\r\n"
    if references:
        headers += f"References: {references}\r\n"
    return (headers + "\r\nhello\r\n").encode()


def test_a_token_round_trips_and_is_lower_case() -> None:
    address = TOKENS.reply_address(12345)
    assert re.fullmatch(r"support\+[0-9a-z]+-[a-z2-7]{20}@shop\.example", address)
    assert TOKENS.conversation_of([address]) == 12345
    assert TOKENS.conversation_of([address.upper()]) == 12345  # a mail system that upper-cases still works


def test_a_token_of_another_secret_or_an_altered_id_does_not_verify() -> None:
    other = ReplyTokens("another-secret", SUPPORT).reply_address(7)
    assert TOKENS.conversation_of([other]) is None
    token = TOKENS.token(7)
    forged = f"support+{'8' + token[1:]}@shop.example"  # conversation 8 with 7's signature
    assert TOKENS.conversation_of([forged]) is None
    assert TOKENS.conversation_of([TOKENS.reply_address(7).replace("support", "sales")]) is None


def test_message_ids_are_unguessable() -> None:
    ids = {new_message_id("shop.example") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"<[0-9a-f]{40}@shop\.example>", i) for i in ids)


def test_token_wins_and_a_participant_joins() -> None:
    match = resolve_thread(parse_email(mail("Jane <jane@example.org>", TOKENS.reply_address(7))), TOKENS, LOOKUP)
    assert (match.conversation_id, match.via, match.refused) == (7, "token", None)


def test_references_thread_a_reply_without_token() -> None:
    raw = mail("bob@example.org", "support@shop.example", in_reply_to="<unknown@x>",
               references="<ours-2@shop.example> <unknown@x>")
    match = resolve_thread(parse_email(raw), TOKENS, LOOKUP)
    assert (match.conversation_id, match.via) == (9, "references")


def test_a_stranger_with_a_valid_token_starts_a_new_conversation() -> None:
    match = resolve_thread(parse_email(mail("mallory@evil.example", TOKENS.reply_address(7))), TOKENS, LOOKUP)
    assert (match.conversation_id, match.via, match.refused) == (None, "new", "stranger")


def test_a_stranger_quoting_our_message_id_starts_a_new_conversation() -> None:
    raw = mail("mallory@evil.example", "support@shop.example", in_reply_to="<ours-1@shop.example>")
    match = resolve_thread(parse_email(raw), TOKENS, LOOKUP)
    assert (match.conversation_id, match.refused) == (None, "stranger")


def test_a_forged_token_is_ignored() -> None:
    raw = mail("jane@example.org", "support+7-aaaaaaaaaaaaaaaaaaaa@shop.example")
    match = resolve_thread(parse_email(raw), TOKENS, LOOKUP)
    assert (match.conversation_id, match.via, match.refused) == (None, "new", "forged_token")


def test_a_forged_token_cannot_override_the_real_thread() -> None:
    raw = mail("bob@example.org", "support+7-aaaaaaaaaaaaaaaaaaaa@shop.example", in_reply_to="<ours-2@shop.example>")
    assert resolve_thread(parse_email(raw), TOKENS, LOOKUP).conversation_id == 9


@pytest.mark.parametrize(("subject", "expected"), [
    ("Where is my order?", "Re: Where is my order?"), ("Re: AW: RE: Where", "Re: Where"),
    ("Fwd: Re[2]: x", "Re: x"), ("", "Re: your message"),
])
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_a_bot_reply_has_threading_headers_and_is_marked_automatic() -> None:
    out = OutgoingEmail(to="jane@example.org", to_name="Jane Doe", subject="Re: help", text="Hi <Jane> & co\n\nSee https://shop.example/t?a=1&b=2.",
                        message_id="<abc@shop.example>", from_address="support@shop.example",
                        from_name="Northwind Support", reply_to=TOKENS.reply_address(7), automatic=True,
                        in_reply_to="<their@x>", references=("<root@x>", "<their@x>"), buttons=("Yes", "No"))
    msg = message_from_bytes(compose(out).as_bytes(), policy=policy.default)
    assert msg["From"] == "Northwind Support <support@shop.example>"
    assert msg["To"] == "Jane Doe <jane@example.org>"
    assert msg["Reply-To"] == TOKENS.reply_address(7)
    assert (msg["Message-ID"], msg["In-Reply-To"], msg["References"]) == ("<abc@shop.example>", "<their@x>",
                                                                         "<root@x> <their@x>")
    assert msg["Auto-Submitted"] == "auto-replied"
    text = msg.get_body(("plain",)).get_content()
    assert "Reply with one of:\n  - Yes\n  - No" in text
    html = msg.get_body(("html",)).get_content()
    assert "Hi &lt;Jane&gt; &amp; co" in html
    assert '<a href="https://shop.example/t?a=1&amp;b=2">' in html


def test_an_agent_reply_is_not_marked_automatic() -> None:
    out = OutgoingEmail(to="j@example.org", subject="Re: x", text="Hello", message_id="<a@b>",
                        from_address="support@shop.example", reply_to="support@shop.example")
    assert compose(out)["Auto-Submitted"] is None


def test_to_html_escapes_everything() -> None:
    assert "<script>" not in to_html("<script>alert(1)</script>")


def test_hourly_cap() -> None:
    assert not over_hourly_cap(4, 5) and over_hourly_cap(5, 5) and not over_hourly_cap(100, 0)
