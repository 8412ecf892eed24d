"""The agent side: agents, teams, the queue, assignment, summaries, timers, the agent REST API
(``/api/v1``), the ``/agent`` socket.io namespace and the dashboard (``/agent``).

See the README's "Agents and handoff" section. ``init_handoff(app, services)`` mounts it all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from helpdesk.services import Services


def init_handoff(app: Flask, services: Services) -> None:
    """Register the API, the dashboard, the ``/agent`` namespace and (unless a worker runs them)
    the timer scheduler on ``app``."""
    from helpdesk.handoff import api
    from helpdesk.handoff.dashboard import blueprint as dashboard
    from helpdesk.handoff.namespace import AgentNamespace
    from helpdesk.handoff.scheduler import TimerScheduler

    service = services.handoff
    assert service is not None
    app.register_blueprint(api.blueprint())
    app.register_blueprint(dashboard())
    namespace = AgentNamespace(service)
    services.sio.register_namespace(namespace)
    services.bus.subscribe(namespace.on_bus_event)
    if services.settings.timers_in_web:
        scheduler = TimerScheduler(service, interval=services.settings.timer_interval)
        scheduler.start()
        services.closers.append(scheduler.shutdown)
        app.extensions["helpdesk.scheduler"] = scheduler
