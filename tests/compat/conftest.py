"""Fixtures of the Rasa compatibility harness: Rasa's own projects, run through ``helpdesk test``.

The project templates ship inside the ``rasa-pro==3.21.0`` wheel on PyPI. The wheel is fetched
with pip at test time (a test fixture from the package registry, never at run time), checked
against its sha256 and unpacked outside the checkout, under ``~/.cache/helpdesk/`` (Rasa's own code
never sits in our source tree, where it would count as ours: layout checks, environment readers);
without network the tests skip saying so.
Nothing of Rasa's is copied into the repository (Rasa Pro's licence). rasa-calm-demo is read from
a local checkout named by ``HELPDESK_COMPAT_CALM_DEMO``.

The templates' custom actions run on a real rasa-sdk action server (``.venv-actions``), with the
unpacked wheel on its path because two of the templates import Rasa's own helpers
(``rasa.shared.utils.io``) in their actions.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ACTIONS_PYTHON, _free_port, _stop, _wait_until_healthy

OVERLAYS = Path(__file__).parent / "overlays"
RASA_VERSION = "3.21.0"
WHEEL_NAME = f"rasa_pro-{RASA_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "41e60a73dd67fb1295ebb16528e0d947f44aa4ac6e273f64471b27b9a6ad5a73"
CACHE = Path.home() / ".cache" / "helpdesk" / f"rasa-pro-{RASA_VERSION}"
UNPACKED = CACHE / "unpacked"
TEMPLATES = UNPACKED / "rasa" / "cli" / "project_templates"
DOWNLOAD_TIMEOUT = 600
CALM_DEMO_ENV = "HELPDESK_COMPAT_CALM_DEMO"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_wheel(target: Path) -> Path:
    """``pip download`` the pinned wheel into ``target``; skip the tests when that fails."""
    wheel = target / WHEEL_NAME
    if wheel.is_file() and _sha256(wheel) == WHEEL_SHA256:
        return wheel
    target.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", f"rasa-pro=={RASA_VERSION}", "--no-deps",
               "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "-d", str(target)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot download rasa-pro=={RASA_VERSION} from PyPI (offline?): {exc}")
    if done.returncode != 0 or not wheel.is_file():
        reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        pytest.skip(f"cannot download rasa-pro=={RASA_VERSION} from PyPI (offline?): {reason}")
    actual = _sha256(wheel)
    if actual != WHEEL_SHA256:
        wheel.unlink()
        pytest.fail(f"{WHEEL_NAME} has sha256 {actual}, expected {WHEEL_SHA256}")
    return wheel


@pytest.fixture(scope="session")
def rasa_unpacked() -> Path:
    """The unpacked rasa-pro wheel (``rasa/`` with the project templates and Rasa's helpers)."""
    marker = UNPACKED / ".complete"
    if not marker.is_file():
        wheel = _download_wheel(CACHE)
        shutil.rmtree(UNPACKED, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(UNPACKED, [n for n in archive.namelist() if n.startswith("rasa/")])
        marker.write_text(WHEEL_SHA256)
    return UNPACKED


@pytest.fixture(scope="session")
def templates(rasa_unpacked: Path) -> Path:
    return rasa_unpacked / "rasa" / "cli" / "project_templates"


@pytest.fixture(scope="session")
def calm_demo() -> Path:
    """A local checkout of RasaHQ/rasa-calm-demo (``HELPDESK_COMPAT_CALM_DEMO``), else skip."""
    value = os.environ.get(CALM_DEMO_ENV)
    if not value:
        pytest.skip(f"set {CALM_DEMO_ENV} to a local checkout of RasaHQ/rasa-calm-demo to run it")
    path = Path(value)
    if not (path / "domain").is_dir() or not (path / "e2e_tests").is_dir():
        pytest.fail(f"{CALM_DEMO_ENV}={value} is not a rasa-calm-demo checkout (no domain/ or e2e_tests/)")
    return path


class ActionServers:
    """One rasa-sdk server per project folder, started on first use, all stopped at the end."""

    def __init__(self, rasa_root: Path, tmp: Path) -> None:
        self._rasa_root, self._tmp = rasa_root, tmp
        self._urls: dict[Path, str] = {}
        self._processes: list[subprocess.Popen[bytes]] = []

    def url(self, project: Path) -> str:
        if project not in self._urls:
            self._urls[project] = self._start(project)
        return self._urls[project]

    def _start(self, project: Path) -> str:
        if not ACTIONS_PYTHON.exists():
            pytest.skip("no .venv-actions with rasa-sdk: run scripts/actions-venv.sh (or make test)")
        port = _free_port()
        scratch = self._tmp / f"{project.name}-{port}"
        scratch.mkdir(parents=True)
        log = scratch / "rasa_sdk.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(project), str(self._rasa_root)]),
            "SANIC_HOST": "127.0.0.1",
            "ACTION_SERVER_SANIC_WORKERS": "1",
            "TMPDIR": str(scratch),  # the templates keep per-conversation JSON "databases" there
            # telco's handoff action builds an OpenAI client: a key so that it imports, and a
            # loopback address nothing listens on, so that a call fails instead of leaving the machine
            "OPENAI_API_KEY": "not-a-key",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{_free_port()}/v1",
        }
        command = [str(ACTIONS_PYTHON), str(Path(__file__).parent / "action_server_main.py"), "actions", str(port)]
        with log.open("wb") as log_file:
            process = subprocess.Popen(  # noqa: S603 - fixed command line
                command, cwd=project, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append(process)
        _wait_until_healthy(process, f"http://127.0.0.1:{port}/health", log)
        return f"http://127.0.0.1:{port}/webhook"

    def stop(self) -> None:
        for process in self._processes:
            _stop(process)


@pytest.fixture(scope="session")
def action_servers(rasa_unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServers]:
    servers = ActionServers(rasa_unpacked, tmp_path_factory.mktemp("compat_actions"))
    try:
        yield servers
    finally:
        servers.stop()
