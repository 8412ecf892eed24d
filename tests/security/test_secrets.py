"""Issue 8.1: every signer uses the helpdesk's one secret (never Flask's ``SECRET_KEY`` default)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from helpdesk.app import Helpdesk
from helpdesk.connectors.widget.tokens import SALT
from helpdesk.services import EmptySecret, secret_key
from tests.e2e.widget_helpers import WidgetClient
from tests.security.helpers import running, settings_for


def forge(secret: str, visitor_key: str) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT).dumps({"v": visitor_key})


def a_visitor_with_history(url: str) -> tuple[str, str]:
    tab = WidgetClient(url)
    try:
        session = tab.connect()
        tab.send("where is my order")
        tab.wait_for_bot("order number")
        return session["visitor_id"], session["token"]
    finally:
        tab.disconnect()


def continues(url: str, token: str) -> dict[str, Any]:
    tab = WidgetClient(url)
    try:
        return tab.connect({"token": token, "last_seq": 0})
    finally:
        tab.disconnect()


@pytest.mark.parametrize("forged_with", ["None", "", "guess", "test-secret"])
def test_tokens_signed_with_another_key_are_refused_and_the_generated_secret_works(
        db_url: str, tmp_path: Path, forged_with: str) -> None:
    # no HELPDESK_SECRET_KEY: the secret is generated into the instance folder
    with running(db_url, tmp_path, secret_key=None) as server:
        visitor, token = a_visitor_with_history(server.url)
        assert continues(server.url, token)["visitor_id"] == visitor, "the issued token continues"
        session = continues(server.url, forge(forged_with, visitor))
        assert session["visitor_id"] != visitor and session["messages"] == []
        generated = (tmp_path / "instance" / "secret_key").read_text().strip()
        assert continues(server.url, forge(generated, visitor))["visitor_id"] == visitor


def test_a_host_apps_secret_key_does_not_change_the_signing_key(db_url: str, tmp_path: Path) -> None:
    host = Flask("host")
    host.config["SECRET_KEY"] = "the host's own key"
    settings = settings_for(db_url, tmp_path, secret_key="helpdesk-key")
    Helpdesk(host, settings)
    try:
        assert host.config["SECRET_KEY"] == "the host's own key", "the host keeps its key"
        tokens = host.extensions["helpdesk.widget"].tokens
        visitor = "anon:" + "ab" * 16
        assert tokens.verify(forge("helpdesk-key", visitor)) is not None
        assert tokens.verify(forge("the host's own key", visitor)) is None
        assert tokens.verify(forge("None", visitor)) is None
    finally:
        host.extensions["helpdesk"].close()


def test_an_empty_secret_is_refused_at_start(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path}/x.db", tmp_path, secret_key="  ")
    with pytest.raises(EmptySecret, match="HELPDESK_SECRET_KEY is empty"):
        secret_key(settings)
    with pytest.raises(EmptySecret):
        Helpdesk(Flask("host"), settings)
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "secret_key").write_text("\n")
    with pytest.raises(EmptySecret, match="is empty"):
        secret_key(settings_for(f"sqlite:///{tmp_path}/x.db", tmp_path, secret_key=None))


def test_the_generated_secret_and_the_sqlite_database_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        url = f"sqlite:///{tmp_path}/data/helpdesk.db"
        with running(url, tmp_path, secret_key=None):
            pass
    finally:
        os.umask(old)
    for path in (tmp_path / "instance" / "secret_key", tmp_path / "data" / "helpdesk.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    first = (tmp_path / "instance" / "secret_key").read_text()
    assert len(first) > 40 and secret_key(settings_for(url, tmp_path, secret_key=None)) == first.strip()
