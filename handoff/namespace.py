"""The ``/agent`` socket.io namespace: the real-time inbox of the dashboard.

Connect with ``auth={"token": T, "status"?: "online"|"away"}``. Every agent is in the rooms
``agents``, ``agent:<id>``, ``team:none`` and ``team:<id>`` of each of their teams; admins also in
``admins``. The namespace subscribes to the bus and pushes, to the agents allowed to see the
conversation: ``conversation {type, item, alert}`` (an inbox row changed; ``alert``: a new,
re-queued or escalated conversation is waiting, the dashboard plays a sound), ``message`` and
``note`` (to the conversation's viewers and its assignee; while it waits, the customer's new
messages to the agents of its team),
``status`` and ``typing`` (to ``conversation:<id>``, the viewers, who ``join`` it) and ``agent``
(presence).

Client events (acknowledged with ``{"ok": true}`` or ``{"error": {code, message}}``):
``heartbeat``, ``presence {status}``, ``join {conversation_id}``, ``leave {conversation_id}``,
``typing {conversation_id, typing}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import socketio
from socketio.exceptions import ConnectionRefusedError as Refused

from helpdesk.handoff import auth, queue
from helpdesk.handoff.errors import HandoffError, Invalid
from helpdesk.handoff.service import HandoffService
from helpdesk.handoff.types import AgentRef

log = logging.getLogger(__name__)
NAMESPACE = "/agent"
CACHE_SIZE = 4096
CACHE_SECONDS = 30.0


def rooms_for(team_id: int | None, assignee_id: int | None = None) -> list[str]:
    rooms = ["admins", f"team:{team_id}" if team_id else "team:none"]
    return rooms + [f"agent:{assignee_id}"] if assignee_id else rooms


class AgentNamespace(socketio.Namespace):
    def __init__(self, service: HandoffService) -> None:
        super().__init__(NAMESPACE)
        self.handoff = service
        self._where: OrderedDict[int, tuple[int | None, int | None, bool, int, float]] = OrderedDict()
        self._guard = threading.Lock()

    # --- connection -------------------------------------------------------------------------
    def on_connect(self, sid: str, environ: dict[str, Any], auth_data: Any = None) -> None:
        data = auth_data if isinstance(auth_data, dict) else {}
        with self.handoff.db.read_session() as session:
            agent = auth.authenticate(session, data.get("token") if isinstance(data.get("token"), str) else None,
                                      self.handoff.now())
        if agent is None:
            raise Refused({"code": "unauthorized", "message": "a valid agent token is required in auth.token"})
        self.save_session(sid, {"agent": agent, "token_hash": auth.token_hash(data["token"])})
        for room in ["agents", f"agent:{agent.id}", "team:none", *(f"team:{t}" for t in agent.team_ids)]:
            self.enter_room(sid, room)
        if agent.is_admin:
            self.enter_room(sid, "admins")
        status = data.get("status") if data.get("status") in ("online", "away") else "online"
        # after the connect completes: going online may assign conversations, which emits to this client
        self.server.start_background_task(self._safe, self.handoff.presence.set, agent.id, status)

    def on_disconnect(self, sid: str, reason: Any = None) -> None:
        agent = self._agent(sid)
        if agent is not None:
            self._safe(self.handoff.presence.heartbeat, agent.id)

    def _agent(self, sid: str) -> AgentRef | None:
        try:
            agent: AgentRef | None = self.get_session(sid).get("agent")
            return agent
        except KeyError:
            return None

    def _safe(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - a background task must log, not die silently
            log.exception("handoff.namespace.task_failed")
            return None

    def _call(self, sid: str, fn: Any, *args: Any) -> dict[str, Any]:
        agent = self._agent(sid)
        if agent is None:
            return {"error": {"code": "unauthorized", "message": "not connected"}}
        try:
            result = fn(agent, *args)
        except HandoffError as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        return {"ok": True, **({"data": result} if result is not None else {})}

    # --- client events ----------------------------------------------------------------------
    def on_heartbeat(self, sid: str, data: Any = None) -> dict[str, Any]:
        if not self._still_signed_in(sid):  # signed out by another process (password change, deactivation)
            self.server.start_background_task(self._disconnect_soon, sid)  # after this ack went out
            return {"error": {"code": "unauthorized", "message": "signed out"}}
        return self._call(sid, lambda agent: self.handoff.presence.heartbeat(agent.id))

    def _disconnect_soon(self, sid: str) -> None:
        self.server.sleep(0.2)
        self.disconnect(sid)

    def _still_signed_in(self, sid: str) -> bool:
        try:
            token_hash = self.get_session(sid).get("token_hash")
        except KeyError:
            return False
        with self.handoff.db.read_session() as session:
            return auth.authenticate_hash(session, token_hash, self.handoff.now()) is not None

    def _sign_out(self, agent_id: Any, keep: Any) -> None:
        """Close this process's sockets of the agent, except those signed in with the token ``keep``."""
        for sid, _ in list(self.server.manager.get_participants(NAMESPACE, f"agent:{agent_id}")):
            try:
                token_hash = self.get_session(sid).get("token_hash")
            except KeyError:
                continue
            if token_hash != keep:
                log.info("handoff.agent.socket_closed", extra={"agent_id": agent_id})
                self.disconnect(sid)

    def on_presence(self, sid: str, data: Any = None) -> dict[str, Any]:
        status = data.get("status") if isinstance(data, dict) else None
        return self._call(sid, lambda agent: self.handoff.presence.set(agent.id, status))

    def on_join(self, sid: str, data: Any = None) -> dict[str, Any]:
        return self._call(sid, lambda agent: self._join(sid, agent, _conversation_id(data)))

    def on_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        return self._call(sid, lambda agent: self.leave_room(sid, f"conversation:{_conversation_id(data)}"))

    def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        typing = bool(data.get("typing", True)) if isinstance(data, dict) else True
        return self._call(sid, lambda agent: self.handoff.actions.typing(agent, _conversation_id(data), typing))

    def _join(self, sid: str, agent: AgentRef, conversation_id: int) -> None:
        team_id, assignee_id, _open, _shown = self._lookup(conversation_id)
        if not agent.may_see(team_id, assignee_id):
            raise HandoffError("this conversation belongs to a team you are not in", code="wrong_team", status=403)
        self.enter_room(sid, f"conversation:{conversation_id}")

    # --- bus events -------------------------------------------------------------------------
    def on_bus_event(self, event: str, data: dict[str, Any]) -> None:
        """Bus subscriber: push inbox and conversation changes to the agents who may see them."""
        conversation_id = data.get("conversation_id")
        if event == "agent":
            self.emit("agent", data["agent"], room="agents")
            return
        if event == "agent_signed_out":
            self._sign_out(data.get("agent_id"), data.get("keep"))
            return
        if not isinstance(conversation_id, int):
            return
        if event == "handoff":
            self._handoff_event(conversation_id, data)
        elif event == "handoff_route":  # fresh from a turn (another process may have changed it)
            with self._guard:
                shown = self._where.get(conversation_id, (None, None, False, 0, 0.0))[3]
            self._remember(conversation_id, data.get("team_id"), data.get("assignee_id"), bool(data.get("open")),
                           shown)
        elif event in ("message", "note"):
            self.emit(event, _public(data), room=self._message_rooms(conversation_id, data))
        elif event in ("typing", "status"):  # the inbox learns status changes from ``conversation``
            self.emit(event, _public(data), room=f"conversation:{conversation_id}")

    def _message_rooms(self, conversation_id: int, data: dict[str, Any]) -> list[str]:
        """Who hears a message: its viewers; the assignee; and while it waits, every agent of the
        team hears what the customer adds (not what the inbox row they got already shows). The
        bot's own chats reach viewers only: fanning every message out to every agent is what
        costs most (see bench/handoff_fanout.py)."""
        team_id, assignee_id, is_open, shown = self._lookup(conversation_id)
        rooms = [f"conversation:{conversation_id}"]
        if assignee_id is not None:
            rooms.append(f"agent:{assignee_id}")
        elif is_open and data.get("role") == "customer" and int(data.get("seq") or 0) > shown:
            rooms += rooms_for(team_id)
        return rooms

    def _handoff_event(self, conversation_id: int, data: dict[str, Any]) -> None:
        item = data["item"]
        assignee = (item.get("assignee") or {}).get("id")
        previous = self._where.get(conversation_id)
        self._remember(conversation_id, item.get("team_id"), assignee, item.get("status") in ("queued", "assigned"),
                       int(item.get("last_seq") or 0))
        rooms = rooms_for(item.get("team_id"), assignee)
        if previous and previous[1] and previous[1] != assignee:
            rooms.append(f"agent:{previous[1]}")  # the agent who lost it hears about it
        self.emit("conversation", {"type": data.get("type"), "item": item, "alert": bool(data.get("alert"))},
                  room=rooms)

    def _lookup(self, conversation_id: int) -> tuple[int | None, int | None, bool, int]:
        """(team, assignee, with people?, last seq the inbox row showed) of a conversation; cached
        briefly (``handoff`` events of this process refresh it, and so does the ``handoff_route`` a
        turn with customer messages publishes before them; other changes made by another process
        show within CACHE_SECONDS)."""
        with self._guard:
            cached = self._where.get(conversation_id)
            if cached is not None and time.monotonic() - cached[4] < CACHE_SECONDS:
                self._where.move_to_end(conversation_id)
                return cached[:4]
        with self.handoff.db.read_session() as session:
            handoff = queue.open_handoff(session, conversation_id) or queue.latest_handoff(session, conversation_id)
        is_open = handoff is not None and handoff.status != "closed"
        where = (handoff.team_id if handoff else None, handoff.assignee_id if is_open and handoff else None, is_open, 0)
        self._remember(conversation_id, *where)
        return where

    def _remember(self, conversation_id: int, team_id: int | None, assignee_id: int | None, is_open: bool,
                  shown: int) -> None:
        with self._guard:
            self._where[conversation_id] = (team_id, assignee_id, is_open, shown, time.monotonic())
            self._where.move_to_end(conversation_id)
            while len(self._where) > CACHE_SIZE:
                self._where.popitem(last=False)


def _conversation_id(data: Any) -> int:
    value = data.get("conversation_id") if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise Invalid("'conversation_id' must be a positive 64-bit number", code="invalid_conversation_id")
    return value


def _public(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "thread_key"}
