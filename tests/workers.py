"""Real Celery worker processes for `services` tests.

`celery_workers` (session) starts two `celery -A ade worker -P solo` subprocesses on the test database and the
Redis of REDIS_URL. Tests that use it must be `@pytest.mark.django_db(transaction=True)` so the workers see
their rows. tests/conftest.py imports the fixture.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LEASE_SECONDS = 3  # short, so a killed worker's run is failed quickly


class WorkerPool:
    def __init__(self, log_dir: Path, env: dict):
        self.log_dir, self.env = log_dir, env
        self.procs: dict[str, subprocess.Popen] = {}
        self._count = 0

    def start(self, count: int = 1) -> list[str]:
        """Start `count` more workers and wait until each answers a ping. Returns their names."""
        names = [self._spawn() for _ in range(count)]
        for name in names:
            self._wait_ready(name)
        return names

    def _spawn(self) -> str:
        self._count += 1
        name = f"w{self._count}@engram-test"
        with open(self.log_dir / f"{name}.log", "wb") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "ade", "worker", "-P", "solo", "-n", name, "-l", "INFO",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent)
        return name

    def _wait_ready(self, name: str) -> None:
        from ade.celery import app

        deadline = time.monotonic() + 90
        while not app.control.ping(destination=[name], timeout=0.5):
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{self.log(name)[-4000:]}")

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def name_of(self, pid: int) -> str:
        return next(name for name, proc in self.procs.items() if proc.pid == pid)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"==== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.log_dir.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()


def worker_env() -> dict:
    """The environment of a worker: this test session's database, Redis and scripted model."""
    from django.conf import settings

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ade.settings",
        "DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
        "CELERY_EAGER": "0",
        "RUN_LEASE_SECONDS": str(LEASE_SECONDS),
        "SCRIPTED_LLM_URL": os.environ.get("SCRIPTED_LLM_URL", settings.SCRIPTED_LLM_URL),
        "SCRIPTED_LLM_AUTOSTART": "0",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def celery_workers(django_db_setup, scripted_llm_server, tmp_path_factory):
    """Two real Celery workers for the session, calling the session's scripted model; `.start()`, `.kill(name)`,
    `.logs()`."""
    from django.db import connections

    from ade.celery import app
    from agents.run_events import redis_client

    redis_client().flushdb()  # our own Redis database: stale tasks and streams of earlier sessions go
    app.control.purge()
    connections.close_all()
    pool = WorkerPool(tmp_path_factory.mktemp("workers"), worker_env())
    try:
        pool.start(2)
        yield pool
    finally:
        pool.stop()
