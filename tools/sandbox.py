"""Run a custom Python tool outside the server process.

Each call gets a fresh `python -I` subprocess (isolated mode: no PYTHON* variables, no user site, no
script directory on sys.path) in its own process group and a fresh scratch directory as cwd and HOME.
Its environment holds nothing of the server's: only a minimal PATH/locale, the tool's declared variables
(the agent's secrets) and LETTA_AGENT_ID. Arguments go in as JSON on stdin and the result comes back as
JSON on a dedicated pipe (never pickle). stdout/stderr are captured up to a cap. CPU time, address space,
file size and open files are limited with setrlimit; the whole group is killed at the timeout.

Isolation from the server: when the server runs as root (our machines, the Docker image), the child drops to an
unprivileged user (settings.TOOL_SANDBOX_USER, default `nobody`) inside a fresh network namespace with no
network at all (unless settings.TOOL_ALLOW_NETWORK), using util-linux `unshare` and `setpriv`. It then cannot read
var/ (mode 700: the SQLite database, secret_key), the server's /proc/<pid>/environ, or reach PostgreSQL/Redis.
The runner program is passed with -c, so the child needs no access to the checkout; its interpreter is the
system Python (settings.TOOL_SANDBOX_PYTHON), since a venv under /root is not readable by that user.
A server not running as root cannot switch users: the child then runs as the server's user (documented in the
README); run such deployments in a container per tool call. `pip_requirements` are recorded but never installed.
"""

import json
import os
import pwd
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ade.errors import Invalid

from .results import ToolResult, error_text

RUNNER_SOURCE = Path(__file__).with_name("sandbox_runner.py").read_text()
OUTPUT_CAP_BYTES = 64 * 1024  # per stream: a tool printing megabytes costs us at most this much
RESULT_CAP_BYTES = 8 * 1024 * 1024
FILE_LIMIT_MB = 64
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    # Numeric libraries start one thread per core otherwise, each reserving address space.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


@dataclass
class _Capture:
    """Bytes of one stream, kept up to `cap`; the rest is counted and dropped."""

    cap: int
    data: bytearray = None
    dropped: int = 0

    def __post_init__(self):
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        self.data += chunk[: max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... output truncated: {self.dropped} more bytes not shown]"
        return text


def child_env(scratch: str, env: dict | None) -> dict:
    variables = {**BASE_ENV, "HOME": scratch, "TMPDIR": scratch}
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not key.isidentifier():
            raise Invalid(f"environment variable name {key!r} is not valid", field="env")
        if not isinstance(value, str):
            raise Invalid(f"environment variable {key} must be a string", field="env")
        variables[key] = value
    return variables


def run_python_tool(
    source_code: str,
    name: str,
    args: dict,
    *,
    env: dict | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
) -> ToolResult:
    """Call function `name` of `source_code` with `args` in a sandbox process; never raises for tool faults."""
    timeout = float(settings.TOOL_TIMEOUT_SECONDS if timeout is None else timeout)
    limits = {
        "cpu_seconds": max(1, int(timeout) + 1),
        "memory_mb": memory_mb or settings.TOOL_MEMORY_MB,
        "file_mb": FILE_LIMIT_MB,
    }
    try:
        payload = json.dumps({"source": source_code, "name": name, "args": args, "limits": limits}).encode()
    except (TypeError, ValueError) as exc:
        raise Invalid(f"tool arguments must be JSON: {exc}", field="args") from None
    with tempfile.TemporaryDirectory(prefix="engram-tool-") as scratch:
        isolation = _isolation()
        if isolation:
            os.chown(scratch, isolation["uid"], isolation["gid"])
        variables = child_env(scratch, env)
        outcome = _run(payload, scratch, variables, timeout, isolation)
    return _result(name, timeout, *outcome)


def _isolation() -> dict | None:
    """How to drop privileges for the child, or None when the server cannot (not root, tools missing)."""
    if os.geteuid() != 0 or not (shutil.which("setpriv") and shutil.which("unshare")):
        return None
    try:
        user = pwd.getpwnam(settings.TOOL_SANDBOX_USER)
    except KeyError:
        return None
    return {"uid": user.pw_uid, "gid": user.pw_gid}


def _command(write_fd: int, isolation: dict | None) -> list[str]:
    if isolation is None:
        return [sys.executable, "-I", "-X", "utf8", "-c", RUNNER_SOURCE, str(write_fd)]
    python = settings.TOOL_SANDBOX_PYTHON or (
        "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    )
    drop = ["setpriv", f"--reuid={isolation['uid']}", f"--regid={isolation['gid']}", "--clear-groups", "--"]
    network = [] if settings.TOOL_ALLOW_NETWORK else ["unshare", "--net", "--"]
    return [*network, *drop, python, "-I", "-X", "utf8", "-c", RUNNER_SOURCE, str(write_fd)]


def _run(payload: bytes, scratch: str, variables: dict, timeout: float, isolation: dict | None):
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            _command(write_fd, isolation),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_fd,),
            cwd=scratch,
            env=variables,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(write_fd)
    deadline = time.monotonic() + timeout
    try:
        _send(proc, payload)
        captures, timed_out = _collect(proc, read_fd, deadline)
        if not timed_out:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.05))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        _kill_group(proc)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        os.close(read_fd)
    return captures, proc.returncode, timed_out


def _send(proc, payload: bytes) -> None:
    # The runner reads all of stdin before it runs any tool code, so this cannot deadlock.
    try:
        proc.stdin.write(payload)
        proc.stdin.close()
    except BrokenPipeError:
        pass


def _collect(proc, result_fd: int, deadline: float):
    """Read stdout, stderr and the result pipe until they close, the process exits, or the deadline passes."""
    captures = {
        "stdout": _Capture(OUTPUT_CAP_BYTES),
        "stderr": _Capture(OUTPUT_CAP_BYTES),
        "result": _Capture(RESULT_CAP_BYTES),
    }
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout.fileno(), selectors.EVENT_READ, captures["stdout"])
        selector.register(proc.stderr.fileno(), selectors.EVENT_READ, captures["stderr"])
        selector.register(result_fd, selectors.EVENT_READ, captures["result"])
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return captures, True
            events = selector.select(timeout=min(remaining, 0.5))
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fd)
            if not events and proc.poll() is not None:
                break  # the tool exited; something it started still holds a pipe open
    return captures, False


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _result(name: str, timeout: float, captures: dict, returncode: int, timed_out: bool) -> ToolResult:
    stdout = [t for t in [captures["stdout"].text()] if t]
    stderr = [t for t in [captures["stderr"].text()] if t]
    if timed_out:
        message = error_text(
            name, "TimeoutError", f"the tool did not finish within {timeout:g} seconds and was stopped"
        )
        return ToolResult.error(message, stdout=stdout, stderr=[*stderr, message])
    if captures["result"].dropped:
        message = error_text(name, "ValueError", f"the tool's return value is larger than {RESULT_CAP_BYTES} bytes")
        return ToolResult.error(message, stdout=stdout, stderr=[*stderr, message])
    try:
        result = json.loads(captures["result"].data)
    except ValueError:
        message = error_text(name, "ToolProcessError", _exit_description(returncode))
        return ToolResult.error(message, stdout=stdout, stderr=[*stderr, message])
    if result.get("status") != "success":
        message = error_text(name, result.get("type", "Error"), result.get("message", ""))
        return ToolResult.error(message, stdout=stdout, stderr=[*stderr, result.get("traceback", ""), message])
    return ToolResult("success", result.get("value"), stdout, stderr)


def _exit_description(returncode: int) -> str:
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode)
        why = {signal.SIGXCPU: " (CPU time limit)", signal.SIGXFSZ: " (file size limit)"}.get(sig, "")
        return f"the tool process was killed by {sig.name}{why} before returning a result"
    return f"the tool process exited with code {returncode} before returning a result"
