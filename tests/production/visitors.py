"""Widget visitors that behave like ``connectors/widget/static/widget.js`` across faults: a real
python-socketio client that reconnects by itself (with its token and the last ``seq`` it holds,
so the server replays what it missed), and sends a message until it is acknowledged, again and
again with the same ``client_id`` (the widget's ``resend()``: the server stores it once)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import socketio

NAMESPACE = "/widget"
#: the order-status flow and its follow-ups, over and over (the offline assistant answers each)
SCRIPT: list[dict[str, str]] = [
    {"text": "where is my order"}, {"text": "A1002"},
    {"payload": "/SetSlots(continue_conversation=false)", "title": "No, thanks"},
    {"payload": "/SetSlots(csat_score=satisfied)", "title": "Satisfied"},
]


@dataclass
class Visitor:
    """One widget visitor (see the module docstring). ``received`` holds every message it was
    given (live or replayed), by id; ``conflicts`` the seqs that came with two different ids."""

    url: str
    transports: list[str] = field(default_factory=lambda: ["websocket"])
    token: str | None = None
    conversation_id: int | None = None
    received: dict[int, dict[str, Any]] = field(default_factory=dict)
    seqs: dict[int, int] = field(default_factory=dict)
    conflicts: list[int] = field(default_factory=list)
    #: client_id → (seq, duplicate) of every acknowledged message
    acked: dict[str, tuple[int, bool]] = field(default_factory=dict)
    #: (sent, first reply) of each answered message, ``time.monotonic()`` (one clock for all processes)
    timings: list[tuple[float, float]] = field(default_factory=list)
    reconnects: int = 0
    resends: int = 0
    unanswered: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0,
                                           randomization_factor=0.2)
        self.connected = asyncio.Event()
        self.arrived = asyncio.Event()
        self.client.on("connect", self._on_connect, namespace=NAMESPACE)
        self.client.on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        self.client.on("session", self._on_session, namespace=NAMESPACE)
        self.client.on("message", self._record, namespace=NAMESPACE)

    # what the server sends ---------------------------------------------------------------

    def auth(self) -> dict[str, Any]:
        """Sent at every (re)connect: the token and the last contiguous seq held."""
        return {"token": self.token, "last_seq": self.last_seq()}

    def last_seq(self) -> int:
        held = set(self.seqs) | {seq for seq, _ in self.acked.values()}
        n = 0
        while n + 1 in held:
            n += 1
        return n

    async def _on_connect(self) -> None:
        self.connected.set()

    async def _on_disconnect(self, *reason: Any) -> None:
        if self.connected.is_set():
            self.reconnects += 1
        self.connected.clear()

    async def _on_session(self, data: dict[str, Any]) -> None:
        self.token = data.get("token") or self.token
        self.conversation_id = data.get("conversation_id") or self.conversation_id
        for message in data.get("messages") or []:
            await self._record(message)

    async def _record(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        mid = int(message.get("id", seq))  # the echo server (bench) numbers messages by seq only
        if self.seqs.get(seq, mid) != mid:
            self.conflicts.append(seq)
        self.seqs[seq] = mid
        self.received[mid] = message
        self.conversation_id = message.get("conversation_id") or self.conversation_id
        self.arrived.set()

    # what the visitor does ---------------------------------------------------------------

    async def connect(self) -> None:
        await self.client.connect(self.url, namespaces=[NAMESPACE], transports=self.transports, auth=self.auth,
                                  wait_timeout=30)
        await asyncio.wait_for(self.connected.wait(), 30)

    async def send(self, message: dict[str, str], *, reply_timeout: float = 40.0) -> None:
        """Send until acknowledged (same client_id each time), then wait for the first reply after it."""
        data = {**message, "client_id": uuid.uuid4().hex}
        sent = time.monotonic()
        deadline = time.monotonic() + reply_timeout
        ack: dict[str, Any] | None = None
        tries = 0
        while ack is None:
            if time.monotonic() > deadline:
                self.unanswered.append(data["client_id"])
                return
            await asyncio.wait_for(self.connected.wait(), reply_timeout)
            tries += 1
            try:
                ack = await self.client.call("message", data, namespace=NAMESPACE, timeout=3)
            except (TimeoutError, socketio.exceptions.SocketIOError):
                await asyncio.sleep(0.2)
        self.resends += tries - 1
        if "error" in ack:
            raise AssertionError(f"refused: {ack['error']}")
        self.acked[data["client_id"]] = (int(ack["seq"]), bool(ack.get("duplicate")))
        self.conversation_id = ack.get("conversation_id") or self.conversation_id
        while not any(seq > ack["seq"] and self.received[mid]["role"] != "customer" for seq, mid in self.seqs.items()):
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                self.unanswered.append(data["client_id"])
                return
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                pass
        self.timings.append((sent, time.monotonic()))

    async def chat(self, rounds: int, think: float) -> None:
        for step in range(rounds * len(SCRIPT)):
            await self.send(SCRIPT[step % len(SCRIPT)])
            await asyncio.sleep(think)

    async def chat_until(self, stop_at: float, think: float, rng: random.Random, reply_timeout: float) -> None:
        """Chat until ``stop_at`` (monotonic), a message every ``think`` s (±50 %), as load."""
        step = 0
        await asyncio.sleep(rng.uniform(0, think))  # visitors do not all write at the same instant
        while time.monotonic() < stop_at:
            await self.send(SCRIPT[step % len(SCRIPT)], reply_timeout=reply_timeout)
            step += 1
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))

    async def close(self) -> None:
        await self.client.disconnect()

    def replies_seen(self) -> set[int]:
        return {mid for mid, m in self.received.items() if m["role"] != "customer"}
