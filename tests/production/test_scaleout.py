"""Scale-out (issue 14) with real processes: nginx, 2 web processes and 2 ``helpdesk worker``
processes (``deploy/topology.py``) on PostgreSQL and Redis, one topology for the whole module.

* socket.io events cross processes: a visitor on web A, agents on web B and A;
* one conversation's turns stay in order when its messages alternate between A and B;
* two agents on different processes claim the same conversation at once: exactly one wins;
* a rate limit counts across processes (Redis);
* handoff timers (SLA escalation, inactivity auto-resolve) fire exactly once with four processes
  sweeping them (the workers and, here, the web processes too).

Clients talk to the web processes directly (``Topology.web_url``) to choose the process."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from deploy.topology import Topology
from helpdesk.connectors.limits import TYPING_BURST
from helpdesk.conversations.models import Conversation, Message
from helpdesk.handoff import auth
from helpdesk.handoff.models import Handoff, Note, Timer
from helpdesk.handoff.texts import AUTO_RESOLVED
from tests.e2e.widget_helpers import WidgetClient
from tests.integration.test_handoff_support import PASSWORD, AgentSocket, ask_for_human, login, token_of
from tests.production.conftest import answered_once, database, messages, running_topology
from tests.production.test_worker_killed import eventually
from tests.production.visitors import SCRIPT

SLA = INACTIVITY = 2  # seconds: the timers fire within the test
SENDER_BURST = 4  # REST messages per sender before 429 (refilled at 0.5 a minute: not during the test)
ENV = {
    "HELPDESK_TIMERS_IN_WEB": "true",  # four processes race for every timer (the workers alone suffice)
    "HELPDESK_TIMER_INTERVAL": "0.2",
    "HELPDESK_HANDOFF_SLA_SECONDS": str(SLA),
    "HELPDESK_HANDOFF_INACTIVITY_SECONDS": str(INACTIVITY),
    "HELPDESK_AGENT_HEARTBEAT_TIMEOUT": "3600",  # agents signed in over REST only stay present
    "HELPDESK_SENDER_RATE_BURST": str(SENDER_BURST), "HELPDESK_SENDER_RATE_PER_MINUTE": "0.5",
}


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    with running_topology(web=2, workers=2, env=ENV) as running:
        add_agents(running.database_url, ["ann@example.com", "bob@example.com"])
        yield running


def add_agents(url: str, emails: list[str]) -> None:
    with database(url) as session, session.begin():
        for email in emails:
            auth.create_agent(session, email, email.split("@")[0].title(), PASSWORD, role="agent", teams=[],
                              capacity=50)


def agent_id(headers: dict[str, str], base: str) -> int:
    me = httpx.get(f"{base}/api/v1/agents/me", headers=headers, timeout=30)
    assert me.status_code == 200, me.text
    return int(me.json()["id"])


def rest_conversation(url: str, sender: str) -> int:
    with database(url) as session:
        cid = session.scalar(select(Conversation.id).where(Conversation.channel == "rest",
                                                           Conversation.thread_key == sender))
    assert cid is not None
    return int(cid)


def queued(topology: Topology, prefix: str, count: int) -> list[int]:
    """``count`` REST customers asking for a person, alternately on web A and B: their conversation ids."""
    senders = [f"{prefix}-{uuid.uuid4().hex[:6]}-{n}" for n in range(count)]
    for n, sender in enumerate(senders):
        replies = ask_for_human(topology.web_url(n % 2), sender)
        assert any("in line" in (r.get("text") or "") for r in replies), replies
    return [rest_conversation(topology.database_url, sender) for sender in senders]


def test_socketio_events_cross_processes(topology: Topology) -> None:
    a, b = topology.web_url(0), topology.web_url(1)
    ann, bob = login(b, "ann@example.com"), login(a, "bob@example.com")
    ann_id = agent_id(ann, b)
    ann_socket, bob_socket, tab = AgentSocket(b), AgentSocket(a), WidgetClient(a)
    ann_socket.connect(token_of(ann), status="away")
    bob_socket.connect(token_of(bob), status="away")
    try:
        tab.connect()
        cid = tab.send("I want to talk to a human")["conversation_id"]
        tab.wait_for("status", lambda s: s["status"] == "queued")
        # the turn ran on A: Ann's inbox on B hears of the new waiting conversation
        ann_socket.wait_for("conversation", lambda d: d["type"] == "queued" and d["item"]["conversation_id"] == cid)
        claimed = httpx.post(f"{b}/api/v1/conversations/{cid}/claim", headers=ann, timeout=30)
        assert claimed.status_code == 200, claimed.text
        assert ann_socket.call("join", {"conversation_id": cid}) == {"ok": True}
        tab.wait_for("status", lambda s: s["status"] == "assigned")  # the claim ran on B, the tab is on A

        tab.sio.emit("typing", {"typing": True}, namespace="/widget")
        ann_socket.wait_for("typing", lambda d: d["role"] == "customer" and d["typing"] is True)
        tab.send("Is anyone there?")
        heard = ann_socket.wait_for("message", lambda m: m["role"] == "customer" and m["text"] == "Is anyone there?")
        assert heard["conversation_id"] == cid

        assert ann_socket.call("typing", {"conversation_id": cid, "typing": True}) == {"ok": True}
        tab.wait_for("typing", lambda d: d.get("role") == "agent" and d["typing"] is True)
        sent = httpx.post(f"{b}/api/v1/conversations/{cid}/messages", json={"text": "Ann here, hello!"},
                          headers=ann, timeout=30)
        assert sent.status_code == 201, sent.text
        got = tab.wait_for("message", lambda m: m["role"] == "agent")
        assert (got["text"], got["author"]) == ("Ann here, hello!", {"name": "Ann"})

        # presence: Ann goes online on B, Bob's dashboard on A sees it
        assert ann_socket.call("presence", {"status": "online"})["ok"] is True
        bob_socket.wait_for("agent", lambda d: d["id"] == ann_id and d["status"] == "online")
        assert ann_socket.call("presence", {"status": "away"})["ok"] is True
        bob_socket.wait_for("agent", lambda d: d["id"] == ann_id and d["status"] == "away")
        assert len([m for m in tab.messages() if m["role"] == "agent"]) == 1, "delivered once, not once per process"
    finally:
        tab.disconnect()
        ann_socket.close()
        bob_socket.close()


def test_one_conversations_turns_stay_in_order_across_processes(topology: Topology) -> None:
    """Two tabs of one visitor, one on A and one on B, send the script's messages alternately without
    waiting for replies: both processes run turns of the one conversation."""
    first, second = WidgetClient(topology.web_url(0)), WidgetClient(topology.web_url(1))
    session = first.connect()
    second.connect({"token": session["token"]})
    tabs = [first, second]
    script = SCRIPT * 3
    try:
        acks = [tabs[n % 2].send(**step) for n, step in enumerate(script)]
        assert [ack["seq"] for ack in acks] == sorted(ack["seq"] for ack in acks)
        cid = int(session["conversation_id"] or acks[0]["conversation_id"])
        db = topology.database_url
        last = int(acks[-1]["id"])

        def done() -> bool:  # (a reply to an earlier message may come after the last one was stored)
            return any(m.in_reply_to == last for m in messages(db, cid))

        eventually(done, "the last message's reply", timeout=60)
        rows = messages(db, cid)
        client_ids = [m.external_id or "" for m in rows if m.role == "customer"]
        assert len(client_ids) == len(script)
        problems = answered_once(rows, client_ids)
        assert problems == [], (problems, [(m.seq, m.role, m.in_reply_to, m.text) for m in rows])
        customer_seq = {m.id: m.seq for m in rows if m.role == "customer"}
        answered = [customer_seq[m.in_reply_to] for m in rows if m.role == "bot" and m.in_reply_to]
        assert answered == sorted(answered), "replies are written in the order of the messages they answer"
        replies = {m.in_reply_to: " ".join(r.text or "" for r in rows if r.in_reply_to == m.in_reply_to)
                   for m in rows if m.in_reply_to}
        customer = [m for m in rows if m.role == "customer"]
        for n, message in enumerate(customer):  # the dialogue went as in one process: each step as scripted
            expected = ["order number", "A1002", "satisfied", "glad"][n % len(SCRIPT)]
            assert expected.lower() in replies[message.id].lower(), (n, message.text, replies[message.id])
        with database(db) as s:
            conversation = s.get(Conversation, cid)
            assert conversation is not None
            assert (conversation.status, conversation.processed_seq) == ("bot", customer[-1].seq)
            assert conversation.last_seq == rows[-1].seq == len(rows)
        # each tab got every message but its own, whichever process wrote it, once
        for tab in tabs:
            own = {int(ack["id"]) for ack, n in zip(acks, range(len(acks)), strict=True) if tabs[n % 2] is tab}
            want = {m.id for m in rows} - own
            eventually(lambda tab=tab, want=want: {m["id"] for m in tab.messages()} >= want,  # type: ignore[misc]
                       "every message on both tabs")
            ids = [m["id"] for m in tab.messages()]
            assert len(ids) == len(set(ids))
    finally:
        first.disconnect()
        second.disconnect()


def test_two_agents_on_two_processes_claim_the_same_conversation_one_wins(topology: Topology) -> None:
    a, b = topology.web_url(0), topology.web_url(1)
    agents = {"ann": (a, login(a, "ann@example.com")), "bob": (b, login(b, "bob@example.com"))}
    ids = {name: agent_id(headers, base) for name, (base, headers) in agents.items()}
    conversations = queued(topology, "race", 8)
    wins: Counter[str] = Counter()
    with ThreadPoolExecutor(2) as pool:
        for cid in conversations:
            start = threading.Barrier(2)

            def claim(name: str, cid: int = cid, start: threading.Barrier = start) -> tuple[str, httpx.Response]:
                base, headers = agents[name]
                start.wait(10)
                return name, httpx.post(f"{base}/api/v1/conversations/{cid}/claim", headers=headers, timeout=30)

            results = list(pool.map(claim, agents))
            statuses = sorted(r.status_code for _, r in results)
            assert statuses == [200, 409], [(n, r.status_code, r.text) for n, r in results]
            winner = next(n for n, r in results if r.status_code == 200)
            loser = next(r for n, r in results if r.status_code == 409)
            assert loser.json()["error"]["code"] == "already_assigned"
            wins[winner] += 1
            with database(topology.database_url) as session:
                handoffs = list(session.scalars(select(Handoff).where(Handoff.conversation_id == cid)))
            assert [(h.status, h.assignee_id) for h in handoffs] == [("assigned", ids[winner])]
    assert sum(wins.values()) == len(conversations)


def test_a_rate_limit_counts_across_processes(topology: Topology) -> None:
    sender = f"limited-{uuid.uuid4().hex[:6]}"
    statuses = []
    for n in range(2 * SENDER_BURST):
        response = httpx.post(f"{topology.web_url(n % 2)}/webhooks/rest/webhook",
                              json={"sender": sender, "message": "hello"}, timeout=30)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "rate_limited"
            assert int(response.headers["Retry-After"]) > 0
    # one bucket in Redis: per process, each would have let SENDER_BURST through
    assert statuses == [200] * SENDER_BURST + [429] * SENDER_BURST
    with database(topology.database_url) as session:
        stored = session.scalar(select(func.count(Message.id)).join(Conversation)
                                .where(Conversation.thread_key == sender, Message.role == "customer"))
    assert stored == SENDER_BURST, "a refused message is not stored"


def test_the_typing_limit_counts_across_processes(topology: Topology) -> None:
    """A visitor's typing indicators, from two tabs on two processes, share one bucket (TYPING_BURST,
    then one every 2 s): two buckets of their own would let every one of them through."""
    a, b = topology.web_url(0), topology.web_url(1)
    ann = login(b, "ann@example.com")
    first, second, ann_socket = WidgetClient(a), WidgetClient(b), AgentSocket(b)
    ann_socket.connect(token_of(ann), status="away")
    try:
        token = first.connect()["token"]
        second.connect({"token": token})
        cid = first.send("hello")["conversation_id"]
        assert ann_socket.call("join", {"conversation_id": cid}) == {"ok": True}
        tabs = [first, second] * (TYPING_BURST - 1)
        for tab in tabs:
            tab.sio.emit("typing", {"typing": True}, namespace="/widget")
        # one socket's events are handled in order: once these are acknowledged, so are its typings
        sent = [tab.send(f"from tab {n}")["id"] for n, tab in enumerate((first, second))]
        for text in ("from tab 0", "from tab 1"):
            ann_socket.wait_for("message", lambda m, text=text: m["text"] == text)  # type: ignore[misc]
        assert len(sent) == 2
        seen = [d for d in ann_socket.named("typing") if d["role"] == "customer"]
        assert TYPING_BURST <= len(seen) < len(tabs), f"{len(seen)} of {len(tabs)} typing indicators let through"
    finally:
        first.disconnect()
        second.disconnect()
        ann_socket.close()


def test_timers_fire_exactly_once_with_four_processes_sweeping(topology: Topology) -> None:
    a, b = topology.web_url(0), topology.web_url(1)
    ann = login(a, "ann@example.com")
    inbox = AgentSocket(b)  # Bob's dashboard: the inbox events of every firing, whichever process fired
    inbox.connect(token_of(login(b, "bob@example.com")), status="away")
    try:
        fire_timers(topology, inbox, ann)
    finally:
        inbox.close()


def fire_timers(topology: Topology, inbox: AgentSocket, ann: dict[str, str]) -> None:
    db = topology.database_url
    escalating = queued(topology, "sla", 6)  # normal → high → urgent (no timer after urgent)
    idle = queued(topology, "idle", 4)  # claimed and answered, then the customer goes quiet
    for n, cid in enumerate(idle):
        base = topology.web_url(n % 2)
        assert httpx.post(f"{base}/api/v1/conversations/{cid}/claim", headers=ann, timeout=30).status_code == 200
        sent = httpx.post(f"{base}/api/v1/conversations/{cid}/messages", json={"text": "Done, anything else?"},
                          headers=ann, timeout=30)
        assert sent.status_code == 201, sent.text

    def settled(cids: list[int], check: Callable[[Handoff], bool]) -> Callable[[], bool]:
        def ready() -> bool:
            with database(db) as session:
                handoffs = list(session.scalars(select(Handoff).where(Handoff.conversation_id.in_(cids))))
                left = session.scalar(select(func.count(Timer.id)).where(Timer.conversation_id.in_(cids),
                                                                         Timer.kind.in_(("sla", "inactivity"))))
            return len(handoffs) == len(cids) and all(check(h) for h in handoffs) and left == 0
        return ready

    eventually(settled(escalating, lambda h: h.priority == 3), "both escalations", timeout=60)
    eventually(settled(idle, lambda h: h.status == "closed"), "the auto-resolves", timeout=60)
    with database(db) as session:
        notes = Counter((n.conversation_id, n.text.split(":")[0]) for n in session.scalars(
            select(Note).where(Note.conversation_id.in_(escalating + idle), Note.kind == "event")))
        notices = Counter(m.conversation_id for m in session.scalars(
            select(Message).where(Message.conversation_id.in_(idle), Message.text == AUTO_RESOLVED)))
        statuses = {c.id: c.status for c in session.scalars(select(Conversation).where(Conversation.id.in_(idle)))}
    for cid in escalating:
        assert notes[(cid, "Escalated to high priority")] == 1, notes
        assert notes[(cid, "Escalated to urgent priority")] == 1, notes
    for cid in idle:
        assert notes[(cid, "Resolved automatically")] == 1, notes
        assert notices[cid] == 1, f"conversation {cid} told {notices[cid]} times that it was closed"
    assert set(statuses.values()) == {"resolved"}, statuses

    def inbox_events() -> Counter[tuple[int, str]]:
        return Counter((d["item"]["conversation_id"], d["type"]) for d in inbox.named("conversation"))

    eventually(lambda: all(inbox_events()[(c, "escalated")] >= 2 for c in escalating)
               and all(inbox_events()[(c, "auto_resolved")] >= 1 for c in idle), "the inbox events")
    events = inbox_events()
    assert [events[(c, "escalated")] for c in escalating] == [2] * len(escalating), events
    assert [events[(c, "auto_resolved")] for c in idle] == [1] * len(idle), events


def test_an_agent_given_a_conversation_on_another_process_hears_its_customer_at_once(topology: Topology) -> None:
    """Each process routes a customer message to the assignee's dashboard from what it knows of the
    handoff; a transfer made on B must not leave A sending the customer's words to the previous agent."""
    a, b = topology.web_url(0), topology.web_url(1)
    ann, bob = login(a, "ann@example.com"), login(b, "bob@example.com")
    bob_id = agent_id(bob, b)
    bob_socket, tab = AgentSocket(b), WidgetClient(a)
    bob_socket.connect(token_of(bob), status="away")
    try:
        tab.connect()
        cid = tab.send("I want to talk to a human")["conversation_id"]  # its turns run on A
        tab.wait_for("status", lambda s: s["status"] == "queued")
        claimed = httpx.post(f"{a}/api/v1/conversations/{cid}/claim", headers=ann, timeout=30)
        assert claimed.status_code == 200, claimed.text
        moved = httpx.post(f"{b}/api/v1/conversations/{cid}/transfer", json={"agent_id": bob_id}, headers=ann,
                           timeout=30)
        assert moved.status_code == 200 and moved.json()["assignee"]["id"] == bob_id, moved.text
        bob_socket.wait_for("conversation", lambda d: d["item"]["conversation_id"] == cid
                            and (d["item"].get("assignee") or {}).get("id") == bob_id)
        tab.send("Hello, is this Bob?")
        heard = bob_socket.wait_for("message", lambda m: m["text"] == "Hello, is this Bob?", timeout=15)
        assert heard["conversation_id"] == cid
    finally:
        tab.disconnect()
        bob_socket.close()
