"""The serving processes freeze what start-up built out of the cyclic garbage collector
(``app.freeze_startup_objects``): a full collection then walks only what was created since, not the
assistant, the classifier and every imported module again. Before, with 256 turns waiting on a slow
LLM, full collections paused every thread for 100-300 ms, and that was the Slack acknowledgement's
p99 (``bench/slack_events.py``, README "Slack events")."""

from __future__ import annotations

import gc
from pathlib import Path

from helpdesk.app import GC_THRESHOLDS, _gunicorn_application
from tests.e2e.conftest import make_settings


def test_helpdesk_serve_freezes_the_built_app(tmp_path: Path) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    settings = make_settings(f"sqlite:///{tmp_path}/helpdesk.db", tmp_path, knowledge_reload_seconds=0,
                             timers_in_web=False)
    app = _gunicorn_application(settings).load()  # what gunicorn's worker does after the fork
    try:
        frozen = gc.get_freeze_count()
        services = app.extensions["helpdesk"]
        # the app's own long-lived objects are among the frozen ones, and a full collection
        # no longer sees them (it visits only the generations, not the permanent one)
        assert frozen > 10_000
        generations = {id(o) for o in gc.get_objects()}
        assert id(services.engine) not in generations
        assert id(app) not in generations
        # and the collector runs less often: full collections walk every connection's objects
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        app.extensions["helpdesk"].close()


def test_freezing_leaves_later_objects_collectable() -> None:
    from helpdesk.app import freeze_startup_objects

    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        freeze_startup_objects()

        class Node:
            def __init__(self) -> None:
                self.me = self  # a cycle: only the cyclic collector frees it

        node = Node()
        assert id(node) in {id(o) for o in gc.get_objects()}
        del node
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
