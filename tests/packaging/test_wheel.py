"""The wheel works outside the checkout: build it, install it into a fresh virtualenv, and from an empty
folder run ``helpdesk db upgrade`` on PostgreSQL and ``helpdesk run`` with the bundled default assistant,
which answers over the Rasa REST channel. Site-packages holds ``helpdesk/`` and no generic top-level
modules (``app``, ``settings``…).

The dependencies come from pip's index and cache (installing them is most of the ~2 minutes).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpdesk.conversations.db import Database
from tests.mailservers import free_port

REPO = Path(__file__).resolve().parents[2]
#: what the build does not need (the package excludes tests/ and bench/ anyway)
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".venv-actions", ".cache", ".*_cache", "instance", "build",
                                    "dist", "*.egg-info", "__pycache__", "*.pyc", "node_modules", "tests", "bench")
GENERIC = ["app.py", "settings.py", "cli.py", "services.py", "routing.py", "observability.py", "maintenance.py",
           "connectors", "dialogue", "conversations", "handoff", "flows", "migrations", "knowledge", "llm"]
STEP_TIMEOUT = 300.0  # a pip step on a loaded machine
START_TIMEOUT = 90.0  # `helpdesk run`: imports, assistant loaded, knowledge indexed

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout: no PYTHONPATH, no virtualenv, no HELPDESK_* settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPDESK_", "PYTHON", "VIRTUAL_ENV", "ANTHROPIC_", "SLACK_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(REPO))
    return {**env, **extra}


def build_and_install(tmp: Path) -> Path:
    """Build the wheel from a copy of the source and install it into a new virtualenv; the virtualenv."""
    source = tmp / "source"
    shutil.copytree(REPO, source, ignore=NOT_COPIED)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", tmp / "dist", source, cwd=tmp,
         env=_clean_env())
    (wheel,) = (tmp / "dist").glob("helpdesk-*.whl")
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp, env=_clean_env())
    # --no-compile: the dependencies' byte code is written on first import instead (quicker here)
    _run(venv / "bin" / "python", "-m", "pip", "install", "--no-compile", wheel, cwd=tmp, env=_clean_env())
    return venv


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def served(workdir: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by the test, stopped afterwards."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`helpdesk run` exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling the condition above, not waiting for a fixed time
    pytest.fail(f"`helpdesk run` did not answer /healthz within {START_TIMEOUT} s")


def _say(url: str, sender: str, text: str) -> str:
    response = httpx.post(url + "/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json(), f"no reply to {text!r}"
    assert {r["recipient_id"] for r in response.json()} == {sender}
    return " ".join(r.get("text", "") for r in response.json())


def test_the_installed_wheel_migrates_postgresql_and_serves_the_default_assistant(
        postgres_url: str, tmp_path: Path, workdir: Path, served: list[subprocess.Popen[str]]) -> None:
    venv = build_and_install(tmp_path)
    python, helpdesk = venv / "bin" / "python", venv / "bin" / "helpdesk"
    env = _clean_env(HELPDESK_DATABASE_URL=postgres_url, HELPDESK_SECRET_KEY="wheel-test-secret")

    # the package comes from site-packages, and nothing of the checkout is importable
    where = _run(python, "-c", "import sys, helpdesk, sysconfig; print(helpdesk.__file__); "
                 "print(sysconfig.get_paths()['purelib']); print(*sys.path, sep='\\n')", cwd=workdir, env=env)
    package_file, purelib, *path = where.splitlines()
    site_packages = Path(purelib)
    assert Path(package_file) == site_packages / "helpdesk" / "__init__.py"
    assert not any(p and Path(p).resolve().is_relative_to(REPO) for p in path), path

    assert (site_packages / "helpdesk" / "flows" / "domain.yml").is_file()
    assert (site_packages / "helpdesk" / "migrations" / "env.py").is_file()
    generic = sorted(name for name in GENERIC if (site_packages / name).exists())
    assert generic == [], f"generic top-level names in site-packages: {generic}"

    # PostgreSQL: refused before the migration, current after it
    refused = subprocess.run([str(helpdesk), "run"], cwd=workdir, env=env, capture_output=True, text=True,
                             timeout=STEP_TIMEOUT)
    assert refused.returncode == 1 and "helpdesk db upgrade" in refused.stderr, refused.stderr
    assert "database is up to date" in _run(helpdesk, "db", "upgrade", cwd=workdir, env=env)
    database = Database(postgres_url)
    try:
        database.check_schema()  # the installed migrations reached the checkout's newest revision
    finally:
        database.dispose()

    # the bundled default assistant answers over the Rasa REST channel (its actions read demo_data.json)
    port, log = free_port(), tmp_path / "run.log"
    with log.open("w") as output:
        process = subprocess.Popen([str(helpdesk), "run", "--port", str(port)], cwd=workdir, env=env,
                                   stdout=output, stderr=subprocess.STDOUT, text=True)
    served.append(process)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, process, log)
    assert f"(assistant: {site_packages / 'helpdesk' / 'flows'})" in log.read_text()
    assert "order number" in _say(url, "wheel", "where is my order").lower()
    answer = _say(url, "wheel", "A1002")
    assert "A1002" in answer and "anything else" in answer.lower(), answer
