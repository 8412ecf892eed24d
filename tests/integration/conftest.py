"""Fixtures for the integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ACTIONS_PYTHON = REPO_ROOT / ".venv-actions" / "bin" / "python"
ACTION_CODE_DIR = REPO_ROOT / "tests" / "action_server"
ACTION_SERVER_START_TIMEOUT = 60.0
# Sanic's worker manager (sanic/worker/manager.py, wait_for_ack) spins forever if SIGTERM arrives
# in the ~0.1 s between the worker's ack and the manager noticing it, which is right after
# /health first answers. Giving it this long after that point keeps a short session's teardown clean.
SANIC_SETTLE_SECONDS = 0.5
STOP_GRACE_SECONDS = 5.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_healthy(process: subprocess.Popen[bytes], health_url: str, log: Path) -> None:
    deadline = time.monotonic() + ACTION_SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"rasa-sdk exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(health_url, timeout=1.0).status_code == 200:
                time.sleep(SANIC_SETTLE_SECONDS)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"rasa-sdk not healthy after {ACTION_SERVER_START_TIMEOUT:g}s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets Sanic stop its worker processes; SIGKILL the group if it hangs."""
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
        process.wait()


@pytest.fixture(scope="session")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real rasa-sdk action server serving ``tests/action_server/actions.py``.

    Yields its webhook URL, ``http://127.0.0.1:<port>/webhook``.
    """
    if not ACTIONS_PYTHON.exists():
        pytest.skip("no .venv-actions with rasa-sdk: run scripts/actions-venv.sh (or make test)")
    port = _free_port()
    log = tmp_path_factory.mktemp("action_server") / "rasa_sdk.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ACTION_CODE_DIR),
        "SANIC_HOST": "127.0.0.1",
        "ACTION_SERVER_SANIC_WORKERS": "1",
    }
    command = [str(ACTIONS_PYTHON), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]
    with log.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed command line
            command, cwd=ACTION_CODE_DIR, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_healthy(process, f"http://127.0.0.1:{port}/health", log)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        _stop(process)
