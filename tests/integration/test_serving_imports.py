"""What a serving process (``helpdesk run``, ``serve``, ``worker``) holds in memory (issue 10, idle
RSS): not Alembic (a new database is migrated by a child process), not the HTTP clients
python-socketio imports for its client classes, not Redis unless HELPDESK_REDIS_URL is set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OPTIONAL = ("alembic", "requests", "aiohttp", "redis", "numpy")

# a fresh interpreter does what `helpdesk run` does before serving, then reports its modules
SERVING = """
import importlib, json, sys
from helpdesk.cli import serving_app
from helpdesk.settings import Settings

url, instance, assistant, redis_url = sys.argv[1:5]
settings = Settings(database_url=url, instance_path=instance, assistant=assistant, secret_key="test-secret",
                    knowledge_reload_seconds=0, timers_in_web=False, outbox_in_web=False, anthropic_api_key=None,
                    redis_url=redis_url or None, redis_prefix="test-serving-imports")
app_module = serving_app(settings)
built = app_module.create_checked_app(settings) if not redis_url else None
held = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[5:]))
import engineio.client, socketio.redis_manager
report = {"held": held, "socketio_redis": socketio.redis_manager.redis is not None,
          "engineio_requests": engineio.client.requests is not None}
importlib.import_module("requests")  # a later import works as usual
report["requests_later"] = "requests" in sys.modules
if built is not None:
    built.extensions["helpdesk"].close()
print(json.dumps(report))
"""


def _serve(tmp_path: Path, redis_url: str = "") -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", SERVING, f"sqlite:///{tmp_path}/helpdesk.db", str(tmp_path / "instance"),
                           str(REPO / "flows"), redis_url, *OPTIONAL],
                          capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_serving_process_holds_no_client_library_migration_tool_or_redis(tmp_path: Path) -> None:
    pytest.importorskip("requests")
    report = _serve(tmp_path)
    assert report == {"held": [], "socketio_redis": False, "engineio_requests": False, "requests_later": True}


def test_with_redis_configured_python_socketio_gets_redis(tmp_path: Path) -> None:
    pytest.importorskip("requests")
    report = _serve(tmp_path, redis_url="redis://127.0.0.1:6379/0")
    assert report["held"] == ["redis"]
    assert report["socketio_redis"] is True
    assert report["engineio_requests"] is False
