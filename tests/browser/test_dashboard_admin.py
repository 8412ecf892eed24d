"""The dashboard's Settings view in headless Chromium: an admin manages teams, agents (add, edit, rename,
deactivate), canned responses and business hours (a team's own or the default); every API error is shown
on the page, every name inserted as text; agents do not get the view. What the page did is checked
through the API and the database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from helpdesk.handoff import auth
from helpdesk.handoff.models import Agent, BusinessHours, CannedResponse, Team
from tests.browser.dashboard_helpers import needs_chromium, sign_in
from tests.e2e.conftest import LiveServer
from tests.integration.test_handoff_support import PASSWORD, add_agent, handoff_of, login

pytestmark = needs_chromium

HOSTILE_NAME = 'Bob <img src=x onerror="window.__pwned=1">'
CANNED_TEXT = "Hi <b>there</b>!\nHow can I help?"
WEEK = "mon-fri 09:00-17:00; sat 10:00-14:00"


def get(server: LiveServer, path: str, headers: dict[str, str]) -> Any:
    response = httpx.get(f"{server.url}/api/v1{path}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def agent_row(server: LiveServer, email: str) -> tuple[Agent, list[str]] | None:
    db = handoff_of(server.app).db
    with db.read_session() as session:
        agent = session.scalars(select(Agent).where(Agent.email == email)).one_or_none()
        if agent is None:
            return None
        session.expunge(agent)
        return agent, auth.team_names(session, agent.id)


def open_settings(page: Any, section: str) -> None:
    from playwright.sync_api import expect

    if page.locator("#settings").is_hidden():
        page.click("#open-settings")
    expect(page.locator("#settings")).to_be_visible()
    page.click(f'.settings-tabs [data-section="{section}"]')
    expect(page.locator(f"#section-{section}")).to_be_visible()


def submit(page: Any, form: str) -> None:
    page.click(f"#{form} button[type=submit]")


def test_admin_settings_teams_agents_canned_responses_and_hours(server: LiveServer, page: Any,
                                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect

    admin = login(server.url, "ada@example.com")
    created = httpx.post(f"{server.url}/api/v1/canned-responses", headers=admin, timeout=30,
                         json={"shortcut": "bye", "text": "Goodbye!"})
    assert created.status_code == 201, created.text
    bye_id = created.json()["id"]

    sign_in(page, server.url, "ada@example.com")
    expect(page.locator("#open-settings")).to_be_visible()
    page.click("#open-settings")
    expect(page.locator("#settings")).to_be_visible()
    expect(page.locator(".inbox")).to_be_hidden()
    expect(page.locator("#agents-rows tr[data-agent-id]")).to_have_count(1)
    expect(page.locator("#agents-rows tr[data-agent-id]")).to_contain_text("ada@example.com")

    # --- teams: two created, a duplicate rejected with the API's message
    open_settings(page, "teams")
    for name in ("billing", "support"):
        page.fill("#team-name", name)
        submit(page, "team-form")
        expect(page.locator(f'#teams-rows tr[data-team="{name}"]')).to_be_visible()
    page.fill("#team-name", "billing")
    submit(page, "team-form")
    expect(page.locator("#team-form-error")).to_have_text("a team called billing exists")
    assert [t["name"] for t in get(server, "/teams", admin)["items"]] == ["billing", "support"]

    # --- agents: a bad password is rejected, then the agent is created in billing, then edited
    open_settings(page, "agents")
    page.fill("#agent-email", "bob@example.com")
    page.fill("#agent-name", HOSTILE_NAME)
    page.fill("#agent-password", "short")
    page.check('#agent-teams input[value="billing"]')
    page.fill("#agent-capacity", "2")
    submit(page, "agent-form")
    expect(page.locator("#agent-form-error")).to_have_text("'password' must have at least 8 characters")
    assert agent_row(server, "bob@example.com") is None
    page.fill("#agent-password", PASSWORD)
    submit(page, "agent-form")
    bob = page.locator("#agents-rows tr", has_text="bob@example.com")
    expect(bob).to_be_visible()
    expect(page.locator("#agent-form-error")).to_have_text("")
    expect(page.locator("#agent-email")).to_have_value("")  # the form is cleared for the next one
    expect(bob.locator("td").nth(0)).to_have_text(HOSTILE_NAME)  # as text: no <img> was made
    expect(bob.locator("td").nth(3)).to_have_text("billing")
    expect(bob.locator("td").nth(4)).to_have_text("2")
    assert page.locator("#settings img").count() == 0 and page.evaluate("window.__pwned") is None
    stored = agent_row(server, "bob@example.com")
    assert stored is not None
    agent, teams = stored
    assert (agent.name, agent.role, agent.capacity, teams) == (HOSTILE_NAME, "agent", 2, ["billing"])
    assert auth.verify_password(agent.password_hash, PASSWORD)
    login(server.url, "bob@example.com")  # the new agent can sign in

    bob.get_by_role("button", name="Edit").click()
    editing = page.locator("#agents-rows tr.editing")
    editing.locator(".edit-capacity").fill("101")
    editing.get_by_role("button", name="Save").click()
    expect(page.locator("#agents-error")).to_contain_text("'capacity' must be a whole number from 0 to 100")
    assert agent_row(server, "bob@example.com")[0].capacity == 2  # type: ignore[index]
    editing.locator(".edit-capacity").fill("5")
    editing.locator(".edit-role").select_option("admin")
    editing.locator('.edit-teams input[value="support"]').check()
    editing.get_by_role("button", name="Save").click()
    expect(page.locator("#agents-rows tr.editing")).to_have_count(0)
    expect(page.locator("#agents-error")).to_have_text("")
    expect(bob.locator("td").nth(3)).to_have_text("billing, support")
    expect(bob.locator("td").nth(4)).to_have_text("5")
    expect(bob.locator("td").nth(2)).to_have_text("admin")
    listed = {a["email"]: a for a in get(server, "/agents", admin)["items"]}
    assert (listed["bob@example.com"]["capacity"], listed["bob@example.com"]["role"],
            listed["bob@example.com"]["teams"]) == (5, "admin", ["billing", "support"])
    open_settings(page, "teams")
    expect(page.locator('#teams-rows tr[data-team="support"] td').nth(1)).to_have_text(HOSTILE_NAME)

    # --- canned responses: one added (HTML in it stays text), a duplicate rejected, another deleted
    open_settings(page, "canned")
    expect(page.locator("#canned-rows tr[data-canned-id]")).to_have_count(1)
    page.fill("#canned-shortcut", "/hello")
    page.fill("#canned-text", CANNED_TEXT)
    submit(page, "canned-form")
    hello = page.locator("#canned-rows tr", has_text="/hello")
    expect(hello.locator(".canned-text")).to_have_text(CANNED_TEXT)
    assert page.locator("#canned-rows b").count() == 0
    page.fill("#canned-shortcut", "hello")
    page.fill("#canned-text", "again")
    submit(page, "canned-form")
    expect(page.locator("#canned-form-error")).to_have_text("the shortcut hello exists")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'#canned-rows tr[data-canned-id="{bye_id}"]').get_by_role("button", name="Delete").click()
    expect(page.locator(f'#canned-rows tr[data-canned-id="{bye_id}"]')).to_have_count(0)
    expect(page.locator("#canned option")).to_have_text(["Canned responses…", "/hello"])  # the reply box's list
    assert [(c["shortcut"], c["text"]) for c in get(server, "/canned-responses", admin)["items"]] == [
        ("hello", CANNED_TEXT)]

    # --- business hours for billing: saved, then bad ones rejected with the reason shown
    open_settings(page, "hours")
    expect(page.locator("#hours-state")).to_have_text("Always open: no schedule is set.")
    page.select_option("#hours-team", "billing")
    page.fill("#hours-timezone", "Europe/Berlin")
    page.fill("#hours-schedule", WEEK)
    submit(page, "hours-form")
    expect(page.locator("#hours-state")).to_have_text(re.compile(r"^(Open now\.|Closed now; opens .+)$"))
    expect(page.locator("#hours-error")).to_have_text("")
    expect(page.locator("#hours-schedule")).to_have_value(WEEK)  # read back from the API
    expect(page.locator("#hours-reset")).to_be_visible()  # billing has hours of its own now
    week = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [["10:00", "14:00"]]}
    hours = get(server, "/business-hours?team=billing", admin)
    assert (hours["timezone"], hours["schedule"], hours["always_open"]) == ("Europe/Berlin", week, False)
    with handoff_of(server.app).db.read_session() as session:
        billing = session.scalar(select(Team.id).where(Team.name == "billing"))
        rows = [(r.team_id, r.timezone, r.schedule) for r in session.scalars(select(BusinessHours))]
    assert rows == [(billing, "Europe/Berlin", week)]

    for schedule, timezone, error in [
            ("mon-fri 17:00-09:00", "Europe/Berlin", "mon: each range is [\"HH:MM\", \"HH:MM\"] with start before end"),
            ("mon-fri 9am-5pm", "Europe/Berlin", "mon: each range is"),
            ("mon-fri 09:00-17:00; funday 10:00-12:00", "Europe/Berlin", "'schedule' must map days (mon, tue,"),
            (WEEK, "Mars/Base", "unknown time zone 'Mars/Base'"),
            ("weekdays nine to five", "Europe/Berlin", "Cannot read \u201cweekdays nine to five\u201d")]:
        page.fill("#hours-schedule", schedule)
        page.fill("#hours-timezone", timezone)
        submit(page, "hours-form")
        expect(page.locator("#hours-error")).to_contain_text(error)
    assert get(server, "/business-hours?team=billing", admin)["schedule"] == week
    assert get(server, "/business-hours", admin)["always_open"] is True  # the default was left alone
    page.select_option("#hours-team", "")
    expect(page.locator("#hours-error")).to_have_text("")
    expect(page.locator("#hours-schedule")).to_have_value("")
    expect(page.locator("#hours-reset")).to_be_hidden()  # the default is not a team's own

    page.click("#open-settings")  # back to the inbox
    expect(page.locator("#settings")).to_be_hidden()
    expect(page.locator(".inbox")).to_be_visible()
    page.screenshot(path=str(tmp_path / "settings.png"))


def test_admin_renames_and_deactivates_agents(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    add_agent(server.app, "bob@example.com", name="Bob", teams=["billing"])
    add_agent(server.app, "carl@example.com", name="Carl")
    bob_id = agent_row(server, "bob@example.com")[0].id  # type: ignore[index]
    patches: list[str] = []
    page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" and "/agents/" in r.url else None)
    sign_in(page, server.url, "ada@example.com")
    open_settings(page, "agents")
    rows = page.locator("#agents-rows tr[data-agent-id]")
    expect(rows).to_have_count(3)
    editing = page.locator("#agents-rows tr.editing")

    # Ada's own row: no Deactivate, and the last admin cannot make herself an agent (the API's 409, inline)
    page.locator("#agents-rows tr", has_text="ada@example.com").get_by_role("button", name="Edit").click()
    expect(editing.get_by_role("button", name="Save")).to_be_visible()
    expect(editing.get_by_role("button", name=re.compile("Deactivate"))).to_have_count(0)
    editing.locator(".edit-role").select_option("agent")
    editing.get_by_role("button", name="Save").click()
    expect(page.locator("#agents-error")).to_have_text(
        "Could not save Ada: Ada is the last active admin: make another agent an admin first")
    assert agent_row(server, "ada@example.com")[0].role == "admin"  # type: ignore[index]
    editing.get_by_role("button", name="Cancel").click()
    expect(editing).to_have_count(0)
    expect(page.locator("#agents-error")).to_have_text("")

    # rename Bob: a blank name is refused inline and nothing is saved, then a new name (kept as text) is
    bob = page.locator(f'#agents-rows tr[data-agent-id="{bob_id}"]')
    bob.get_by_role("button", name="Edit").click()
    expect(editing.locator(".edit-name")).to_have_value("Bob")
    editing.locator(".edit-name").fill("   ")
    editing.get_by_role("button", name="Save").click()
    expect(page.locator("#agents-error")).to_have_text("Could not save Bob: 'name' must be a non-empty string")
    expect(editing).to_have_count(1)  # still editing, the typed name kept
    assert agent_row(server, "bob@example.com")[0].name == "Bob"  # type: ignore[index]
    editing.locator(".edit-name").fill(" Robert <b>Bob</b> ")
    editing.get_by_role("button", name="Save").click()
    expect(editing).to_have_count(0)
    expect(page.locator("#agents-error")).to_have_text("")
    expect(bob.locator("td").nth(0)).to_have_text("Robert <b>Bob</b>")
    expect(page.locator("#toast")).to_have_text("Saved Robert <b>Bob</b>")
    assert page.locator("#agents-rows b").count() == 0
    stored = agent_row(server, "bob@example.com")
    assert stored is not None and (stored[0].name, stored[0].active, stored[1]) == ("Robert <b>Bob</b>", True,
                                                                                   ["billing"])

    # deactivate Bob: a dismissed confirm changes nothing, an accepted one takes him off the list
    asked: list[str] = []
    saved = len(patches)
    bob.get_by_role("button", name="Edit").click()
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    editing.get_by_role("button", name="Deactivate Robert <b>Bob</b>").click()
    assert asked and asked[0].startswith("Deactivate Robert <b>Bob</b>?")
    expect(editing).to_have_count(1)
    expect(rows).to_have_count(3)
    assert len(patches) == saved, "no request after a dismissed confirm"
    assert agent_row(server, "bob@example.com")[0].active is True  # type: ignore[index]

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    editing.get_by_role("button", name="Deactivate Robert <b>Bob</b>").click()
    expect(bob).to_have_count(0)
    expect(rows).to_have_count(2)
    expect(page.locator("#toast")).to_have_text("Deactivated Robert <b>Bob</b>")
    expect(page.locator("#agents-error")).to_have_text("")
    assert len(asked) == 2 and len(patches) == saved + 1
    assert agent_row(server, "bob@example.com")[0].active is False  # type: ignore[index]
    admin = login(server.url, "ada@example.com")
    assert [a["email"] for a in get(server, "/agents", admin)["items"]] == ["ada@example.com", "carl@example.com"]
    page.reload()  # the list comes from the API: Bob stays gone
    open_settings(page, "agents")
    expect(rows).to_have_count(2)
    expect(page.locator("#agents-rows")).not_to_contain_text("bob@example.com")


def test_admin_gives_a_team_back_the_default_hours(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    admin = login(server.url, "ada@example.com")
    for body in ({"name": "billing"}, {"name": "support"}):
        assert httpx.post(f"{server.url}/api/v1/teams", headers=admin, json=body, timeout=30).status_code == 201
    for body in ({"timezone": "Europe/Berlin", "schedule": {"mon": [["09:00", "17:00"]]}},
                 {"timezone": "Asia/Tokyo", "schedule": {"sat": [["10:00", "14:00"]]}, "team": "billing"}):
        saved = httpx.put(f"{server.url}/api/v1/business-hours", headers=admin, json=body, timeout=30)
        assert saved.status_code == 200, saved.text
    sign_in(page, server.url, "ada@example.com")
    open_settings(page, "hours")
    reset = page.locator("#hours-reset")
    expect(page.locator("#hours-schedule")).to_have_value("mon 09:00-17:00")
    expect(reset).to_be_hidden()  # the default itself
    page.select_option("#hours-team", "support")
    expect(page.locator("#hours-state")).to_contain_text("Uses the default hours.")
    expect(reset).to_be_hidden()  # support has none of its own
    page.select_option("#hours-team", "billing")
    expect(page.locator("#hours-timezone")).to_have_value("Asia/Tokyo")
    expect(page.locator("#hours-schedule")).to_have_value("sat 10:00-14:00")
    expect(reset).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    reset.click()
    expect(page.locator("#toast")).to_have_text("billing now uses the default hours")
    expect(reset).to_be_hidden()
    expect(page.locator("#hours-timezone")).to_have_value("Europe/Berlin")
    expect(page.locator("#hours-schedule")).to_have_value("mon 09:00-17:00")
    expect(page.locator("#hours-state")).to_contain_text("Uses the default hours.")
    expect(page.locator("#hours-error")).to_have_text("")
    hours = get(server, "/business-hours?team=billing", admin)
    assert (hours["source"], hours["timezone"]) == ("default", "Europe/Berlin")
    with handoff_of(server.app).db.read_session() as session:
        assert [(r.team_id, r.timezone) for r in session.scalars(select(BusinessHours))] == [(None, "Europe/Berlin")]


def test_an_agent_does_not_see_the_settings(server: LiveServer, page: Any) -> None:
    from playwright.sync_api import expect

    add_agent(server.app, "sue@example.com", name="Sue", teams=["support"])
    sign_in(page, server.url, "sue@example.com")
    expect(page.locator("#me-name")).to_have_text("Sue")
    expect(page.locator("#open-settings")).to_be_hidden()
    expect(page.locator("#settings")).to_be_hidden()
    expect(page.locator(".inbox")).to_be_visible()


def test_an_admin_endpoint_refusing_shows_why(server: LiveServer, page: Any) -> None:
    """Ada loses the admin role while the page is open: the 403 is shown, nothing is created."""
    from playwright.sync_api import expect

    sign_in(page, server.url, "ada@example.com")
    open_settings(page, "teams")
    add_agent(server.app, "root@example.com", role="admin")
    ada = get(server, "/agents/me", login(server.url, "ada@example.com"))["id"]
    demoted = httpx.patch(f"{server.url}/api/v1/agents/{ada}", headers=login(server.url, "root@example.com"),
                          json={"role": "agent"}, timeout=30)
    assert demoted.status_code == 200, demoted.text
    page.fill("#team-name", "sales")
    submit(page, "team-form")
    expect(page.locator("#team-form-error")).to_have_text("only admins may do this")
    with handoff_of(server.app).db.read_session() as session:
        assert session.scalars(select(Team.name)).all() == []
        assert session.scalars(select(CannedResponse)).all() == []
