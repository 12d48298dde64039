"""Run custom tools (and any other untrusted program) isolated from the server and from each other.

Each execution runs under bubblewrap (`bwrap`) in new user, PID, mount, network, IPC, UTS and cgroup namespaces:
- its filesystem holds only /usr (the interpreter and standard library, read-only), a few files of /etc (library
  cache, certificates), a fresh /proc of its own PID namespace, a minimal /dev and size-capped tmpfs at /tmp,
  /var/tmp and /dev/shm. Not the project, not var/ (the SQLite database, secret_key), not the server's /proc;
- it sees no other process: not the server, not another execution running at the same time;
- it has no network at all unless the caller allows it (settings.TOOL_ALLOW_NETWORK for custom tools);
- its environment is only what the caller passes (for tools: the agent's secrets and LETTA_AGENT_ID).
When the server runs as root, bwrap is started as an unprivileged user (settings.TOOL_SANDBOX_USER): an escape
from the namespaces lands without privileges.

Budget per execution: CPU time, address space per process, file size and a process count are set with setrlimit
inside the sandbox's own user namespace (so RLIMIT_NPROC counts this execution's processes only); the tmpfs sizes
bound its disk; the server adds up the resident memory of every process in the sandbox's PID namespace while it runs
and stops the whole execution when the total passes the limit. At the timeout (or that limit) the server kills bwrap;
its PID 1 dies with it (--die-with-parent) and the kernel kills every process of the namespace, even ones that
forked, called setsid() and forked again. Files in its tmpfs go with the mount namespace.

Without bwrap, tools are refused with one error naming TOOL_SANDBOX (`unsafe-local`, for a single-user laptop: plain
subprocesses with the limits, no isolation); the default never falls back silently. Arguments go in as JSON on
stdin, the result comes back as JSON on its own pipe (never pickle); `pip_requirements` are never installed.
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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from ade.errors import DomainError, Invalid

from .results import ToolResult, error_text

HERE = Path(__file__).parent
LIMITS_SOURCE = (HERE / "sandbox_limits.py").read_text()
RUNNER_SOURCE = LIMITS_SOURCE + "\n" + (HERE / "sandbox_runner.py").read_text()
# run_isolated's launcher: limits first, then the program itself (argv[1] is the limits, argv[2:] the command).
LAUNCHER_SOURCE = (
    LIMITS_SOURCE
    + "\nimport json, os, sys\napply_limits(json.loads(sys.argv[1]))\nos.execvp(sys.argv[2], sys.argv[2:])\n"
)
OUTPUT_CAP_BYTES = 64 * 1024  # per stream: a tool printing megabytes costs us at most this much
RESULT_CAP_BYTES = 8 * 1024 * 1024
FILE_LIMIT_MB = 64
TMP_MB = 64  # /tmp (the working directory and HOME); /var/tmp and /dev/shm get a quarter each
MEMORY_CHECK_SECONDS = 0.05
SANDBOX_HOME = "/tmp"  # noqa: S108 - the sandbox's own fresh tmpfs, not the host's /tmp
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OMP_NUM_THREADS": "1",  # numeric libraries start a thread per core otherwise, each reserving address space
    "OPENBLAS_NUM_THREADS": "1",
}
ETC_FILES = ("/etc/ld.so.cache", "/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/alternatives")
ETC_NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf")


class SandboxUnavailable(DomainError):
    """No isolation can be had here and the operator did not choose to run tools without it."""

    status = 503


@dataclass
class _Capture:
    """Bytes of one stream, kept up to `cap`; the rest is counted and dropped."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = max(self.cap - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += max(len(chunk) - room, 0)

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... output truncated: {self.dropped} more bytes not shown]"
        return text


@dataclass
class Completed:
    """What run_isolated saw: the exit status, the captured output, and whether it was stopped."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    out_of_memory: bool = False


# ---------------------------------------------------------------------------------------------------------------
# Public API


def mode() -> str:
    """ "bwrap" or "unsafe-local"; raises SandboxUnavailable when isolation is required and cannot be had."""
    chosen = settings.TOOL_SANDBOX
    if chosen == "unsafe-local":
        return chosen
    if chosen != "bwrap":
        raise SandboxUnavailable(
            f"TOOL_SANDBOX={chosen!r} is not a sandbox this server knows (use bwrap or unsafe-local)"
        )
    problem = _bwrap_problem(tuple(_drop_to()), sandbox_python(), shutil.which("bwrap"))
    if problem:
        raise SandboxUnavailable(
            f"custom tools are refused: no isolated sandbox can be started here ({problem}). Install bubblewrap "
            "and allow unprivileged user namespaces, or set TOOL_SANDBOX=unsafe-local to run tools unisolated as "
            "the server's user (only for a single-user machine)"
        )
    return chosen


def sandbox_python() -> str:
    """The interpreter inside the sandbox: it must live under /usr, the only part of the host bound in."""
    if settings.TOOL_SANDBOX_PYTHON:
        return settings.TOOL_SANDBOX_PYTHON
    for candidate in ("/usr/local/bin/python3", "/usr/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    return sys.executable


def isolated_command(
    argv: list[str],
    *,
    network: bool = False,
    memory_mb: int | None = None,
    cpu_seconds: int | None = None,
    processes: int | None = None,
    read_only_paths: tuple[str, ...] = (),
) -> list[str]:
    """The command line that runs `argv` isolated with rlimits (for long-lived programs such as stdio MCP servers).

    Start it with `start_isolated` (or Popen with cwd="/" and start_new_session=True); killing the process group of
    what you started ends everything inside. The memory total is watched only by run_isolated/run_python_tool.
    """
    limits = _limits(memory_mb=memory_mb, cpu_seconds=cpu_seconds, processes=processes)
    launcher = [sandbox_python(), "-I", "-S", "-c", LAUNCHER_SOURCE, json.dumps(limits), *argv]
    return _wrap(launcher, network=network, read_only_paths=read_only_paths)


def start_isolated(argv: list[str], *, env: dict | None = None, **limits) -> subprocess.Popen:
    """Popen of isolated_command(argv, **limits) with pipes on stdin/stdout/stderr and only `env` as environment."""
    return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        isolated_command(argv, **limits),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
        env=child_env(env),
        start_new_session=True,
        close_fds=True,
    )


def run_isolated(
    argv: list[str],
    *,
    env: dict | None = None,
    timeout: float,
    memory_mb: int | None = None,
    network: bool = False,
    stdin: bytes | None = None,
    output_cap: int = OUTPUT_CAP_BYTES,
) -> Completed:
    """Run `argv` to completion isolated (see the module doc), with a wall-clock timeout and a total memory budget.

    `argv[0]` must exist inside the sandbox (under /usr). Raises SandboxUnavailable (503) when isolation is
    unavailable; a failing or stopped program is a Completed with the reason, never an exception.
    """
    memory_mb = memory_mb or settings.TOOL_MEMORY_MB
    command = isolated_command(argv, network=network, memory_mb=memory_mb, cpu_seconds=int(timeout) + 1)
    outcome = _execute(command, child_env(env), timeout, memory_mb, stdin or b"", output_cap, result_pipe=None)
    captures, returncode, timed_out, out_of_memory = outcome
    return Completed(
        returncode, bytes(captures["stdout"].data), bytes(captures["stderr"].data), timed_out, out_of_memory
    )


def run_python_tool(
    source_code: str,
    name: str,
    args: dict,
    *,
    env: dict | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
) -> ToolResult:
    """Call function `name` of `source_code` with `args` in a sandbox; never raises for tool faults.

    Raises Invalid for arguments that are not JSON or a bad environment, SandboxUnavailable when no sandbox can run.
    """
    timeout = float(settings.TOOL_TIMEOUT_SECONDS if timeout is None else timeout)
    memory_mb = memory_mb or settings.TOOL_MEMORY_MB
    limits = _limits(memory_mb=memory_mb, cpu_seconds=max(1, int(timeout) + 1))
    try:
        payload = json.dumps({"source": source_code, "name": name, "args": args, "limits": limits}).encode()
    except (TypeError, ValueError) as exc:
        raise Invalid(f"tool arguments must be JSON: {exc}", field="args") from None
    variables = child_env(env)
    read_fd, write_fd = os.pipe()
    runner = [sandbox_python(), "-I", "-X", "utf8", "-c", RUNNER_SOURCE, str(write_fd)]
    if mode() == "unsafe-local":
        runner[0] = sys.executable
    outcome = _execute(
        _wrap(runner, network=settings.TOOL_ALLOW_NETWORK),
        variables,
        timeout,
        memory_mb,
        payload,
        OUTPUT_CAP_BYTES,
        result_pipe=(read_fd, write_fd),
    )
    return _result(name, timeout, memory_mb, *outcome)


def child_env(env: dict | None) -> dict:
    variables = {**BASE_ENV, "HOME": SANDBOX_HOME, "TMPDIR": SANDBOX_HOME}
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not key.isidentifier():
            raise Invalid(f"environment variable name {key!r} is not valid", field="env")
        if not isinstance(value, str):
            raise Invalid(f"environment variable {key} must be a string", field="env")
        variables[key] = value
    return variables


# ---------------------------------------------------------------------------------------------------------------
# The sandbox command


def _limits(*, memory_mb: int | None, cpu_seconds: int | None = None, processes: int | None = None) -> dict:
    return {
        "cpu_seconds": cpu_seconds,
        "memory_mb": memory_mb or settings.TOOL_MEMORY_MB,
        "file_mb": FILE_LIMIT_MB,
        "processes": processes or settings.TOOL_MAX_PROCESSES,
    }


def _wrap(argv: list[str], *, network: bool, read_only_paths: tuple[str, ...] = ()) -> list[str]:
    """`argv` inside bwrap (started as the unprivileged sandbox user when we are root), or as is for unsafe-local."""
    if mode() == "unsafe-local":
        return argv
    return [*_drop_to(), *_bwrap_args(network, read_only_paths), "--", *argv]


def _drop_to() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam(settings.TOOL_SANDBOX_USER)
    except KeyError:
        raise SandboxUnavailable(
            f"custom tools are refused: TOOL_SANDBOX_USER={settings.TOOL_SANDBOX_USER!r} does not exist"
        ) from None
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]


def _bwrap_args(network: bool, read_only_paths: tuple[str, ...] = ()) -> list[str]:
    args = ["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
    args += ["--uid", "65534", "--gid", "65534", "--hostname", "sandbox"]
    if network:
        args.append("--share-net")
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = f"/{top}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]  # merged /usr: /lib -> usr/lib
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES + (ETC_NETWORK_FILES if network else ()):
        args += ["--ro-bind-try", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    mb = 1024 * 1024
    tmpfs = (("/tmp", TMP_MB), ("/var/tmp", TMP_MB // 4), ("/dev/shm", TMP_MB // 4))  # noqa: S108 - fresh, its own
    for path, size in tmpfs:
        args += ["--size", str(size * mb), "--tmpfs", path]
    for path in read_only_paths:  # after the tmpfs mounts, so a path under /tmp stays visible (MCP_STDIO_PATHS)
        args += ["--ro-bind", path, path]
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_HOME]  # / (unbounded tmpfs) read-only
    if _bwrap_can_disable_userns():
        args.append("--disable-userns")  # no nested namespaces: no capabilities to poke the kernel with
    return args


@lru_cache(maxsize=1)
def _bwrap_can_disable_userns() -> bool:
    try:
        shown = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)  # noqa: S607
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--disable-userns" in shown.stdout + shown.stderr


_WORKING: set[tuple] = set()  # configurations whose sandbox started once in this process


def _bwrap_problem(drop: tuple, python: str, bwrap: str | None) -> str | None:
    """Why bwrap cannot start a sandbox here, or None when it can. A success is remembered for the process; a
    failure is tried again next time (a fixed machine, or a probe that timed out under load, needs no restart)."""
    if not bwrap:
        return "the bwrap program (Debian package bubblewrap) is not installed"
    if (drop, python, bwrap) in _WORKING:
        return None
    command = [*drop, *_bwrap_args(network=False), "--", python, "-I", "-S", "-c", "pass"]
    try:
        done = subprocess.run(command, capture_output=True, cwd="/", timeout=20, env=BASE_ENV)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap did not start: {exc}"
    if done.returncode != 0:
        return "bwrap failed: " + done.stderr.decode(errors="replace").strip()[:300]
    _WORKING.add((drop, python, bwrap))
    return None


# ---------------------------------------------------------------------------------------------------------------
# Running and watching


def _execute(command, variables, timeout, memory_mb, payload, output_cap, *, result_pipe):
    """Start `command`, feed `payload`, collect its output until it ends, the timeout or the memory limit."""
    from agents.runtime.llm import wait_for_warm_up  # not at module level: tools/ never imports agents/ there

    wait_for_warm_up()  # never start a tool process during litellm's start-up import (see there)
    pass_fds, info_read = [result_pipe[1]] if result_pipe else [], None
    if "bwrap" in command:  # bwrap tells which PID namespace it made: the memory watch adds up its processes
        info_read, info_write = os.pipe()
        pass_fds.append(info_write)
        at = command.index("bwrap") + 1
        command = [*command[:at], "--info-fd", str(info_write), *command[at:]]
    with tempfile.TemporaryDirectory(prefix="engram-tool-") if mode() == "unsafe-local" else _nothing() as scratch:
        if scratch:
            variables = {**variables, "HOME": scratch, "TMPDIR": scratch}
        try:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=pass_fds,
                cwd=scratch or "/",
                env=variables,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            for fd in pass_fds:
                os.close(fd)
        streams = {"stdout": _Capture(output_cap), "stderr": _Capture(output_cap), "info": _Capture(4096)}
        fds = {proc.stdout.fileno(): streams["stdout"], proc.stderr.fileno(): streams["stderr"]}
        if info_read is not None:
            fds[info_read] = streams["info"]
        if result_pipe:
            streams["result"] = fds[result_pipe[0]] = _Capture(RESULT_CAP_BYTES)
        deadline = time.monotonic() + timeout
        try:
            _send(proc, payload)
            stopped = _collect(proc, fds, deadline, streams["info"], memory_mb)
            if stopped is None:
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.05))
                except subprocess.TimeoutExpired:
                    stopped = "timeout"
        finally:
            _kill_group(proc)
            proc.wait()
            for fd in fds:
                if fd not in (proc.stdout.fileno(), proc.stderr.fileno()):
                    os.close(fd)
            proc.stdout.close()
            proc.stderr.close()
    return streams, proc.returncode, stopped == "timeout", stopped == "memory"


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _send(proc, payload: bytes) -> None:
    """The runner reads all of stdin before it runs any tool code, so this cannot deadlock."""
    try:
        proc.stdin.write(payload)
        proc.stdin.close()
    except BrokenPipeError:
        pass


def _collect(proc, fds: dict, deadline: float, info: _Capture, memory_mb: int) -> str | None:
    """Read every pipe until they close or the process exits; "timeout" or "memory" when it had to be stopped."""
    next_check = time.monotonic() + 2 * MEMORY_CHECK_SECONDS  # most tools are done by then; RLIMIT_AS holds meanwhile
    with selectors.DefaultSelector() as selector:
        for fd, capture in fds.items():
            selector.register(fd, selectors.EVENT_READ, capture)
        while selector.get_map():
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if now >= next_check:
                next_check = now + MEMORY_CHECK_SECONDS
                if _resident_mb(info) > memory_mb:
                    return "memory"
            events = selector.select(timeout=min(deadline - now, MEMORY_CHECK_SECONDS))
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fd)
            if not events and proc.poll() is not None:
                break  # the program exited; something it started still holds a pipe open
    return None


def _resident_mb(info: _Capture) -> float:
    """Resident memory of every process in the sandbox's PID namespace (0 before bwrap reported it)."""
    try:
        namespace = json.loads(bytes(info.data)[: info.data.index(b"}") + 1])["pid-namespace"]
    except ValueError:
        return 0
    link = f"pid:[{namespace}]"
    pages = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/pid") != link:
                continue
            with open(f"/proc/{entry.name}/statm") as statm:
                pages += int(statm.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or not ours to look at
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _kill_group(proc) -> None:
    """bwrap is the group leader; its PID 1 dies with it and takes the whole PID namespace along."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _result(name: str, timeout: float, memory_mb: int, captures: dict, returncode, timed_out, out_of_memory):
    stdout = [t for t in [captures["stdout"].text()] if t]
    stderr = [t for t in [captures["stderr"].text()] if t]
    if timed_out:
        message = error_text(
            name, "TimeoutError", f"the tool did not finish within {timeout:g} seconds and was stopped"
        )
        return ToolResult.error(message, stdout=stdout, stderr=[*stderr, message])
    if out_of_memory:
        message = error_text(
            name, "MemoryError", f"the tool's processes together used more than {memory_mb} MB and were stopped"
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
    signum = -returncode if returncode is not None and returncode < 0 else None
    if returncode and 128 < returncode < 128 + signal.NSIG and mode() == "bwrap":
        signum = returncode - 128  # bwrap reports its child's death by a signal as 128 + the signal
    if signum:
        sig = signal.Signals(signum)
        why = {signal.SIGXCPU: " (CPU time limit)", signal.SIGXFSZ: " (file size limit)"}.get(sig, "")
        return f"the tool process was killed by {sig.name}{why} before returning a result"
    return f"the tool process exited with code {returncode} before returning a result"
