"""The whole production topology on one machine, from Debian packages: nginx in front of N web
processes and M ``helpdesk worker`` processes, on PostgreSQL and Redis.

    python deploy/topology.py [--web 2] [--workers 1] [--postgres URL | --own-postgres]

prints nginx's URL and serves until Ctrl-C. The fault tests (``tests/production/``) and the load
benchmark (``bench/load_topology.py``) use :class:`Topology` directly.

* **nginx** (``make nginx`` installs it) runs as a child process, not a daemon, with
  ``deploy/nginx.conf`` — the documented configuration — rendered into a temporary folder with its
  own pid file, logs and temp dirs, on a free loopback port.
* **PostgreSQL**: a fresh database on a running server (``--postgres``, dropped afterwards), or a
  throwaway server of its own (``initdb`` + ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` on a free
  port: what the restart test restarts, so nobody else's tests notice).
* **Redis**: a ``redis-server`` of its own on a free port (no persistence), which the restart test
  restarts without disturbing anyone else (each topology also has its own ``HELPDESK_REDIS_PREFIX``,
  which keeps deployments sharing one Redis server apart: keys and socket.io channel).
* **web**: ``N`` processes started by :func:`web_command` with HELPDESK_HOST/PORT, timers and outbox
  off (``HELPDESK_TIMERS_IN_WEB=false``, ``HELPDESK_OUTBOX_IN_WEB=false``); **workers**: ``M``
  ``helpdesk worker`` processes, which deliver the outbox and run the timers.

Every process has its log in the folder (``web-0.log``, ``worker-0.log``, ``nginx-error.log``…).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
NGINX = "/usr/sbin/nginx"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_environment() -> dict[str, str]:
    """The environment every process of the topology starts with: built here, not copied from this
    process's (only ``settings.py`` reads the environment), so no HELPDESK_*, SLACK_* or ANTHROPIC_*
    variable of the shell that runs a test or a benchmark leaks into a topology. The running
    virtualenv's scripts come first on PATH, then the system's."""
    path = [str(Path(sys.executable).parent), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
            "/sbin", "/bin"]
    return {"PATH": os.pathsep.join(path), "LANG": "C.UTF-8"}


def helpdesk_executable() -> str:
    """The ``helpdesk`` console script of the running virtualenv."""
    candidate = Path(sys.executable).parent / "helpdesk"
    return str(candidate) if candidate.exists() else (shutil.which("helpdesk") or "helpdesk")


def web_command() -> list[str]:
    """The one command every web process runs (HELPDESK_HOST / HELPDESK_PORT say where it listens):
    the production server, gunicorn with one gthread worker."""
    return [helpdesk_executable(), "serve"]


def worker_command() -> list[str]:
    return [helpdesk_executable(), "worker"]


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``initdb``, if PostgreSQL is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def missing(*, own_postgres: bool = False, postgres_url: str = DEFAULT_POSTGRES) -> str | None:
    """Why the topology cannot start here (None when it can): what a test prints when it skips."""
    if not os.access(NGINX, os.X_OK):
        return f"nginx not installed ({NGINX}; `make nginx` installs it)"
    if not shutil.which("redis-server"):
        return "redis-server not installed (Debian package redis-server)"
    if own_postgres:
        if postgres_bin() is None:
            return "PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin/initdb)"
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - the reason is the answer
        return f"PostgreSQL not reachable at {postgres_url}: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def wait_until(check: object, timeout: float, what: str, interval: float = 0.1) -> None:
    """Call ``check()`` until it is truthy; raise TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:g} s")


@dataclass
class Child:
    """One process of the topology and its log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process (its session: gunicorn's master and its worker): what a crash
        of the machine's process or the OOM killer does (no cleanup at all)."""
        if self.alive():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # started with start_new_session=True
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class OwnRedis:
    """A ``redis-server`` of its own on a free loopback port (no persistence)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(folder)]
        self.child = Child("redis", command, child_environment(), folder / "redis.log", folder)

    def start(self) -> None:
        import redis

        self.child.start()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            wait_until(client.ping, 15, "redis-server")
        finally:
            client.close()

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server (its data and every connection go) and start it again on the same port."""
        self.child.stop()
        time.sleep(down_seconds)
        self.start()

    def stop(self) -> None:
        self.child.stop()


class OwnPostgres:
    """A throwaway PostgreSQL server (``initdb`` + ``pg_ctl``) in ``folder`` on a free loopback port."""

    def __init__(self, folder: Path) -> None:
        found = postgres_bin()
        if found is None:
            raise RuntimeError("PostgreSQL server binaries not found")
        self.bin: Path = found
        self.data = folder / "pgdata"
        self.port = free_port()
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._log = folder / "postgres.log"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def init(self) -> None:
        self.data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            self._log.touch()
            shutil.chown(self._log, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _options(self) -> str:
        return (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self._log), "-w", "start")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut; the server is back when it returns."""
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self._log), "-m", "fast",
                  "-w", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def render_nginx(port: int, upstreams: list[int], folder: Path) -> Path:
    """``deploy/nginx.conf`` with this topology's upstream servers and port, inside a main
    configuration of its own (pid, logs, temp dirs in ``folder``; not a daemon)."""
    site = (DEPLOY / "nginx.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in upstreams)
    site, replaced = re.subn(r"(# .*topology: upstream\n)(?:\s*server [^\n]*\n)+", rf"\g<1>{servers}", site)
    site, listened = re.subn(r"listen [^;]*;(\s*# topology: listen)", f"listen 127.0.0.1:{port};\\1", site)
    if not (replaced == listened == 1):
        raise RuntimeError("deploy/nginx.conf lost its 'topology:' markers")
    (folder / "helpdesk.conf").write_text(site)
    temp = "".join(f"    {kind}_temp_path {folder}/{kind}_temp;\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    main = (f"{user}daemon off;\nworker_processes 1;\nworker_rlimit_nofile 20000;\n"
            f"pid {folder}/nginx.pid;\nerror_log {folder}/nginx-error.log warn;\n"
            "events { worker_connections 8192; }\n"
            f"http {{\n    access_log off;\n{temp}    include {folder}/helpdesk.conf;\n}}\n")
    (folder / "nginx-main.conf").write_text(main)
    return folder / "nginx-main.conf"


@dataclass
class TopologyConfig:
    """What to start."""

    web: int = 2
    workers: int = 1
    #: a running PostgreSQL server to make a fresh database on (ignored with ``own_postgres``)
    postgres_url: str = DEFAULT_POSTGRES
    #: start a throwaway PostgreSQL server instead (the restart test restarts it)
    own_postgres: bool = False
    #: more environment for every helpdesk process (HELPDESK_*, SLACK_*…)
    env: dict[str, str] = field(default_factory=dict)
    #: a folder to work in (default: a new temporary one, removed afterwards)
    folder: Path | None = None


class Topology:
    """nginx + N web + M workers on PostgreSQL and Redis; a context manager (see the module docstring)."""

    def __init__(self, config: TopologyConfig | None = None) -> None:
        self.config = config or TopologyConfig()
        self._own_folder = self.config.folder is None
        self.folder = self.config.folder or Path(tempfile.mkdtemp(prefix="helpdesk-topology-"))
        self.folder.chmod(0o755)  # nginx's workers (nobody) reach their temp dirs through it
        self.postgres: OwnPostgres | None = None
        self.redis = OwnRedis(self.folder)
        self.web: list[Child] = []
        self.workers: list[Child] = []
        self.nginx: Child | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = ""
        self._admin_url = ""
        self._database = f"helpdesk_topology_{uuid.uuid4().hex[:10]}"

    # starting ---------------------------------------------------------------------------

    def __enter__(self) -> Topology:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._start_database()
        self.redis.start()
        self.env = self._env()
        self._migrate()
        self.web = [self._child(f"web-{i}", web_command(), port=free_port()) for i in range(self.config.web)]
        self.workers = [self._child(f"worker-{i}", worker_command()) for i in range(self.config.workers)]
        for child in self.web + self.workers:
            child.start()
        for i in range(len(self.web)):
            self.wait_web(i)
        for i in range(len(self.workers)):
            self.wait_worker(i)
        self._start_nginx()

    def _start_database(self) -> None:
        if self.config.own_postgres:
            self.postgres = OwnPostgres(self.folder)
            self.postgres.init()
            self._admin_url = self.postgres.admin_url
        else:
            self._admin_url = self.config.postgres_url
        _admin(self._admin_url, f'CREATE DATABASE "{self._database}"')
        self.database_url = _with_database(self._admin_url, self._database)

    def _env(self) -> dict[str, str]:
        env = child_environment()
        env.update({
            "HELPDESK_DATABASE_URL": self.database_url, "HELPDESK_REDIS_URL": self.redis.url,
            "HELPDESK_REDIS_PREFIX": f"topology-{uuid.uuid4().hex[:8]}",
            "HELPDESK_SECRET_KEY": secrets.token_urlsafe(32), "HELPDESK_INSTANCE_PATH": str(self.folder / "instance"),
            "HELPDESK_ASSISTANT": str(REPO / "flows"), "HELPDESK_AUTO_MIGRATE": "false",
            "HELPDESK_TIMERS_IN_WEB": "false", "HELPDESK_OUTBOX_IN_WEB": "false",
            "HELPDESK_TRUSTED_PROXIES": "1", "HELPDESK_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1",
        })
        env.update(self.config.env)
        return env

    def _migrate(self) -> None:
        result = subprocess.run([helpdesk_executable(), "db", "upgrade"], env=self.env, cwd=self.folder,
                                capture_output=True, text=True, timeout=300)
        if result.returncode:
            raise RuntimeError(f"helpdesk db upgrade failed:\n{result.stdout}{result.stderr}")

    def _child(self, name: str, command: list[str], *, port: int | None = None) -> Child:
        env = dict(self.env)
        if port is not None:
            env["HELPDESK_PORT"] = str(port)
        return Child(name, command, env, self.folder / f"{name}.log", self.folder)

    def web_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.web[index].env['HELPDESK_PORT']}"

    def wait_web(self, index: int, timeout: float = 120.0) -> None:
        child, url = self.web[index], self.web_url(index) + "/healthz"

        def ready() -> bool:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            return httpx.get(url, timeout=2).status_code == 200

        _wait_alive(ready, timeout, child)

    def wait_worker(self, index: int, timeout: float = 120.0) -> None:
        child = self.workers[index]

        def ready() -> bool:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited:\n{child.tail()}")
            return "worker running" in child.log.read_text(errors="replace")

        _wait_alive(ready, timeout, child)

    def _start_nginx(self) -> None:
        ports = [int(child.env["HELPDESK_PORT"]) for child in self.web]
        config = render_nginx(self.port, ports, self.folder)
        self.nginx = Child("nginx", [NGINX, "-p", str(self.folder), "-c", str(config)], child_environment(),
                           self.folder / "nginx.log", self.folder)
        self.nginx.start()
        nginx = self.nginx

        def ready() -> bool:
            if not nginx.alive():
                raise RuntimeError(f"nginx exited:\n{nginx.tail()}\n{(self.folder / 'nginx-error.log').read_text()}")
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200

        _wait_alive(ready, 30, nginx)

    # faults -----------------------------------------------------------------------------

    def kill_web(self, index: int) -> None:
        self.web[index].kill()

    def restart_web(self, index: int) -> None:
        self.web[index].kill()
        self.web[index].start()
        self.wait_web(index)

    def kill_worker(self, index: int = 0) -> None:
        self.workers[index].kill()

    def start_worker(self, index: int = 0) -> None:
        child = self.workers[index]
        child.log.write_text("")  # wait_worker looks for this start's "worker running"
        child.start()
        self.wait_worker(index)

    def start_workers(self) -> None:
        """Start every (stopped) worker at once, then wait for each: they come up side by side."""
        for child in self.workers:
            child.log.write_text("")
            child.start()
        for index in range(len(self.workers)):
            self.wait_worker(index)

    # the end ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything (SIGTERM, then SIGKILL), drop the database, remove the folder."""
        if self.nginx is not None and self.nginx.alive():
            assert self.nginx.process is not None
            self.nginx.process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.nginx.process.wait(5)
            self.nginx.kill()
        children = [c for c in self.web + self.workers if c.alive()]
        for child in children:  # all at once: they shut down in parallel
            assert child.process is not None
            child.process.terminate()
        for child in children:
            child.stop()
        self.redis.stop()
        if self.database_url:
            with contextlib.suppress(Exception):
                _admin(self._admin_url, f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
        if self.postgres is not None:
            self.postgres.stop()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _wait_alive(ready: object, timeout: float, child: Child) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():  # type: ignore[operator]
                return
        except RuntimeError:
            raise
        except Exception:  # noqa: BLE001, S110 - not listening yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} not ready after {timeout:g} s:\n{child.tail()}")
        time.sleep(0.1)


@contextlib.contextmanager
def topology(**options: object) -> Iterator[Topology]:
    """``with topology(web=2, workers=1) as t:`` — :class:`TopologyConfig`'s fields as keywords."""
    with Topology(TopologyConfig(**options)) as running:  # type: ignore[arg-type]
        yield running


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--web", type=int, default=2, help="web processes")
    parser.add_argument("--workers", type=int, default=1, help="`helpdesk worker` processes")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help=f"a running PostgreSQL server (a fresh database is made on it; default {DEFAULT_POSTGRES})")
    parser.add_argument("--own-postgres", action="store_true", help="start a throwaway PostgreSQL server instead")
    args = parser.parse_args()
    reason = missing(own_postgres=args.own_postgres, postgres_url=args.postgres)
    if reason:
        raise SystemExit(f"cannot start: {reason}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the children on SIGTERM too
    with topology(web=args.web, workers=args.workers, postgres_url=args.postgres,
                  own_postgres=args.own_postgres) as running:
        print(f"helpdesk on {running.url}/ (nginx → {len(running.web)} web, {len(running.workers)} worker; "
              f"logs in {running.folder}); Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            signal.pause()


if __name__ == "__main__":
    main()
