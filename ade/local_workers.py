"""Celery workers as local subprocesses, for the test suite and the load benchmark (not for production: there
workers are started by the process manager, see docker-compose.yml)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from .celery import app


class WorkerPool:
    """Celery worker subprocesses of this project, each with its own log file."""

    def __init__(self, log_dir: Path, env: dict, *, pool_args: tuple = ("-P", "solo")):
        self.log_dir, self.env, self.pool_args = Path(log_dir), env, pool_args
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
        name = f"w{self._count}@engram-local"
        with open(self.log_dir / f"{name}.log", "wb") as out:
            self.procs[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "ade",
                    "worker",
                    *self.pool_args,
                    "-n",
                    name,
                    "-l",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=settings.BASE_DIR,
            )
        return name

    def _wait_ready(self, name: str) -> None:
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

    def logs(self, tail: int | None = 3000) -> str:
        """Every worker's log (the last `tail` characters of each; all with None)."""
        return "\n".join(
            f"==== {p.name}\n{p.read_text(errors='replace')[-tail if tail else 0 :]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
