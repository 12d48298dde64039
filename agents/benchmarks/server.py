"""A real Engram server under load, measured from outside over HTTP, with the scripted model at zero latency.

For each database (the embedded default: SQLite in a throwaway var dir, no Redis; and PostgreSQL when
`--database-url` or DATABASE_URL is given, with Celery workers when `--redis-url` is given) it starts daphne in a
subprocess, bootstraps a user and an API key, and measures through the REST API (agents/benchmarks/_server_ops.py):
messages with one and with two model calls, the first SSE event and token, agent create, GET an agent, a page of
60 messages, archival inserts with an external and an in-server embedder, the first message after start-up, the
time from start to healthy, and RSS idle and after the load. Own time = wall time minus the time the scripted model
logged for the same requests; the server's CPU time per request is printed beside it.
"""

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
from django.conf import settings

from agents.benchmarks._server_ops import Figures, measure_all, report
from agents.scripted.server import CONTROL_HEADER


def run(argv, out) -> None:
    parser = argparse.ArgumentParser(prog="manage.py bench server")
    parser.add_argument("--messages", type=int, default=200, help="messages measured (default 200)")
    parser.add_argument("--inserts", type=int, default=200, help="archival inserts measured per embedder")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL server to measure on too (a throwaway database is created on it)",
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help="with --database-url: Redis for the channel layer and Celery; turns then run on a worker process",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the embedded default")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.inserts < 1:
        parser.error("--messages and --inserts must be at least 1")
    if args.no_sqlite and not args.database_url:
        parser.error("--no-sqlite leaves nothing to measure without --database-url")
    if args.redis_url and not args.database_url:
        parser.error("--redis-url needs --database-url (workers share the database with the server)")

    out.write(
        f"Engram server benchmark: daphne over HTTP, scripted model at zero latency, "
        f"{args.messages} messages and {args.inserts} inserts per embedder"
    )
    results = []
    with ScriptedModel() as model:
        if not args.no_sqlite:
            results.append(measure(SqliteBackend(), model, args, out))
        if args.database_url:
            results.append(measure(PostgresBackend(args.database_url, args.redis_url), model, args, out))
    report(results, out)


# ---------------------------------------------------------------------------------------------------------------
# Processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ScriptedModel:
    """The scripted model server in its own process, so that its work is not the Engram server's."""

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="engram-bench-model-"))
        self.url = f"http://127.0.0.1:{_free_port()}"
        log = self.dir / "model.log"
        token = secrets.token_urlsafe(32)  # its control routes answer only us
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "scriptedllm", "--port", self.url.rsplit(":", 1)[1], "--pace-ms", "0"],
                cwd=settings.BASE_DIR,
                env={**os.environ, "SCRIPTED_LLM_CONTROL_TOKEN": token},
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        _wait_http(self.url + "/v1/models", self.proc, log, "the scripted model")
        self.http = httpx.Client(base_url=self.url, timeout=30, headers={CONTROL_HEADER: token})
        return self

    def __exit__(self, *exc):
        self.http.close()
        _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def reset(self) -> None:
        self.http.post("/_control/reset").raise_for_status()

    def requests(self) -> list[dict]:
        """The requests since the last reset, as the model logged them; then reset."""
        log = self.http.get("/_control/requests").json()
        self.reset()
        return log

    def spent_ms(self) -> float:
        """Time the model spent on the requests since the last reset; then reset."""
        return sum(entry.get("elapsed_ms") or 0.0 for entry in self.requests())


def _env(**extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DATABASE_NAME", "CELERY_EAGER", "SCRIPTED_LLM_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="ade.settings",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        SCRIPTED_LLM_AUTOSTART="0",
        **extra,
    )
    return env


class SqliteBackend:
    label = "sqlite"

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="engram-bench-"))
        self.env = _env(ENGRAM_VAR_DIR=str(self.dir), DATABASE_NAME=str(self.dir / "engram.sqlite3"))
        self.workers = 0
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresBackend:
    """A throwaway database on the given PostgreSQL server, dropped afterwards."""

    def __init__(self, url: str, redis_url: str):
        self.url, self.redis_url = url, redis_url
        self.label = "postgresql" + (" + redis workers" if redis_url else "")
        self.workers = 1 if redis_url else 0

    def __enter__(self):
        import psycopg

        parsed = urlparse(self.url)
        self.name = f"{parsed.path.lstrip('/') or 'engram'}_bench_{uuid.uuid4().hex[:8]}"
        self.admin = psycopg.connect(self.url, autocommit=True)
        self.admin.execute(f'CREATE DATABASE "{self.name}"')
        self.dir = Path(tempfile.mkdtemp(prefix="engram-bench-"))
        extra = {"REDIS_URL": self.redis_url, "CELERY_EAGER": "0"} if self.redis_url else {}
        self.env = _env(
            ENGRAM_VAR_DIR=str(self.dir), DATABASE_URL=urlunparse(parsed._replace(path=f"/{self.name}")), **extra
        )
        return self

    def __exit__(self, *exc):
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class EngramServer:
    """daphne on the backend's database (and its Celery workers), migrated and bootstrapped."""

    def __init__(self, backend, model: ScriptedModel):
        self.backend = backend
        self.env = {**backend.env, "SCRIPTED_LLM_URL": model.url}

    def __enter__(self):
        manage = [sys.executable, "manage.py"]
        # As `make run` and the image start it: with our modules' bytecode written (PYTHONDONTWRITEBYTECODE aside).
        compile_all = [sys.executable, "-m", "compileall", "-q", "-x", r"/\.|node_modules|/var/", "."]
        subprocess.run(compile_all, cwd=settings.BASE_DIR, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=self.env, cwd=settings.BASE_DIR, check=True)
        boot = subprocess.run(
            [*manage, "bootstrap"], env=self.env, cwd=settings.BASE_DIR, check=True, capture_output=True, text=True
        ).stdout
        key = re.search(r"API key:\s+(\S+)", boot).group(1)
        self.procs = []
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.startup_ms = self._start_server()
        for i in range(self.backend.workers):
            self._spawn(
                f"worker{i}",
                [
                    "-m",
                    "celery",
                    "-A",
                    "ade",
                    "worker",
                    "-P",
                    "solo",
                    "-n",
                    f"bench{i}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "WARNING",
                ],
            )
        self.http = httpx.Client(base_url=self.url, timeout=120, headers={"Authorization": f"Bearer {key}"})
        return self

    def _start_server(self) -> float:
        """Start the web server; ms until it answers its health check."""
        started = time.perf_counter()
        self.server = self._spawn(
            "server", ["-m", "ade.serve", "-b", "127.0.0.1", "-p", self.url.rsplit(":", 1)[1], "ade.asgi:application"]
        )
        _wait_http(self.url + "/v1/health/", self.server, self.backend.dir / "server.log", "the Engram server")
        return (time.perf_counter() - started) * 1000

    def restart(self) -> None:
        """Stop the web server and start it again on the same database (workers stay)."""
        _stop(self.server)
        self.procs.remove(self.server)
        self._start_server()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self.backend.dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *args], env=self.env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def __exit__(self, *exc):
        self.http.close()
        for proc in self.procs:
            _stop(proc)

    def call(self, method: str, path: str, **kwargs) -> tuple[float, object]:
        """(wall ms, JSON body) of one request; a non-2xx answer stops the benchmark with its body."""
        started = time.perf_counter()
        response = self.http.request(method, path, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return elapsed, response.json()

    def rss_mib(self) -> float:
        """VmRSS of the server, its workers and all their children, in MiB."""
        return sum(_tree_sum(proc.pid, _rss_kib) for proc in self.procs) / 1024

    def cpu_ms(self) -> float:
        """CPU time (user + system, all threads) used so far by the server, its workers and their children."""
        return sum(_tree_sum(proc.pid, _cpu_ms) for proc in self.procs)


def _rss_kib(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")  # utime + stime


def _tree_sum(pid: int, measure) -> float:
    """`measure(pid)` summed over the process and all its descendants."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            total += measure(current)
        except OSError:  # it ended meanwhile
            continue
    return total


# ---------------------------------------------------------------------------------------------------------------
# The measurements (agents/benchmarks/_server_ops.py)


def measure(backend, model: ScriptedModel, args, out) -> Figures:
    figures = Figures(backend.label)
    with backend, EngramServer(backend, model) as server:
        figures.startup_ms = server.startup_ms
        measure_all(server, model, figures, args, out)
    return figures
