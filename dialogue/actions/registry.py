"""Custom actions: the assistant's Python ``actions.py``, a Rasa action server, or test stubs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import importlib.util
import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from helpdesk.dialogue.sdk import CollectingDispatcher, Tracker


class ActionError(Exception):
    """A custom action failed or timed out; the flow is cancelled into pattern_internal_error."""

    def __init__(self, action_name: str, reason: str) -> None:
        self.action_name, self.reason = action_name, reason
        super().__init__(f"action '{action_name}' failed: {reason}")


@dataclass
class ActionResult:
    """Events and responses an action returned, in Rasa's JSON shapes."""

    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


class ActionRunner(Protocol):
    def has(self, name: str) -> bool: ...

    def run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> ActionResult: ...


class PythonActions:
    """Actions defined in an assistant's ``actions.py`` (rasa-sdk style classes or ``@action`` functions)."""

    def __init__(self, actions: dict[str, Any], *, timeout: float = 10.0) -> None:
        self._actions = actions
        self._timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="action")

    @classmethod
    def from_file(cls, path: Path, *, timeout: float = 10.0) -> PythonActions:
        """Import ``path`` under a private module name and collect its actions."""
        module_name = f"_helpdesk_actions_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return cls(collect_actions(vars(module)), timeout=timeout)

    @property
    def names(self) -> set[str]:
        return set(self._actions)

    def has(self, name: str) -> bool:
        return name in self._actions

    def run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> ActionResult:
        dispatcher = CollectingDispatcher()
        future = self._pool.submit(_call, self._actions[name], dispatcher, tracker, domain)
        try:
            events = future.result(timeout=self._timeout)
        except concurrent.futures.TimeoutError:
            raise ActionError(name, f"timed out after {self._timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - any failure of user code becomes an ActionError
            raise ActionError(name, f"{type(exc).__name__}: {exc}") from exc
        if events is None:
            events = []
        if not isinstance(events, list) or not all(isinstance(e, dict) and "event" in e for e in events):
            raise ActionError(name, "must return a list of event dicts")
        return ActionResult(events=list(events), responses=dispatcher.messages)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _call(action: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Any:
    result = action(dispatcher, tracker, domain)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def collect_actions(namespace: dict[str, Any]) -> dict[str, Any]:
    """Find ``Action``-like classes (``name()`` + ``run()``) and ``@action`` functions in a module."""
    found: dict[str, Any] = {}
    for obj in namespace.values():
        if inspect.isclass(obj) and callable(getattr(obj, "name", None)) and callable(getattr(obj, "run", None)):
            if inspect.isabstract(obj) or obj.__name__ in ("Action", "ValidationAction", "FormValidationAction"):
                continue
            try:
                instance: Any = obj()
                name = instance.name()
            except (NotImplementedError, TypeError):
                continue
            found[str(name)] = instance.run
        elif callable(obj) and hasattr(obj, "action_name"):
            found[str(obj.action_name)] = obj
    return found


class StubActions:
    """``stub_custom_actions`` of an e2e test file: canned events and responses per action."""

    def __init__(self, stubs: dict[str, dict[str, Any]]) -> None:
        self._stubs = stubs

    def has(self, name: str) -> bool:
        return name in self._stubs

    def run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> ActionResult:
        stub = self._stubs[name]
        return ActionResult(events=list(stub.get("events") or []), responses=list(stub.get("responses") or []))


class RemoteActions:
    """A Rasa action server reached over HTTP (see :mod:`dialogue.actions.remote`)."""

    def __init__(self, client: Any, domain: Any, *, known: set[str] | None = None) -> None:
        self._client = client
        self._domain = domain
        self._known = known

    def has(self, name: str) -> bool:
        """As in Rasa, a custom action must be declared under the domain's ``actions``."""
        if self._known is not None:
            return name in self._known
        return name in self._domain.actions

    def run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> ActionResult:
        from helpdesk.dialogue.actions.remote import ActionRejected, ActionServerError

        try:
            result = self._client.run(name, sender_id=tracker.sender_id, tracker=tracker_json(tracker),
                                      domain=domain, domain_digest=domain_digest(domain))
        except ActionRejected as exc:
            return ActionResult(events=[{"event": "action_execution_rejected", "name": name,
                                         "message": exc.message}])
        except ActionServerError as exc:
            raise ActionError(name, exc.reason) from exc
        return ActionResult(events=list(result.events), responses=list(result.responses))


def domain_digest(domain: dict[str, Any]) -> str:
    """A fingerprint of the domain (rasa-sdk caches the domain per digest)."""
    return hashlib.sha256(json.dumps(domain, sort_keys=True, default=str).encode()).hexdigest()[:16]


def tracker_json(tracker: Tracker) -> dict[str, Any]:
    """The tracker in the shape rasa-sdk expects."""
    return {
        "sender_id": tracker.sender_id,
        "slots": tracker.slots,
        "latest_message": {"intent": {}, "entities": [], **tracker.latest_message},
        "latest_event_time": None,
        "followup_action": None,
        "paused": False,
        "events": tracker.events,
        "latest_input_channel": tracker.latest_input_channel,
        "active_loop": {"name": tracker.active_loop} if tracker.active_loop else {},
        "latest_action": {"action_name": "action_listen"},
        "latest_action_name": "action_listen",
        "stack": tracker.stack,
    }


class ChainedActions:
    """Ask each runner in turn: stubs first, then local Python actions, then the action server."""

    def __init__(self, runners: list[ActionRunner]) -> None:
        self._runners = runners

    def has(self, name: str) -> bool:
        return any(r.has(name) for r in self._runners)

    def run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> ActionResult:
        for runner in self._runners:
            if runner.has(name):
                return runner.run(name, tracker, domain)
        raise ActionError(name, "no such action")
