"""Custom tools run in a separate, limited process that knows nothing of the server."""

import json
import os
import signal
import socket
import time

import pytest

from tools.sandbox import OUTPUT_CAP_BYTES, run_isolated, run_python_tool, sandbox_python, start_isolated


def run(source: str, args: dict | None = None, **kwargs):
    name = source.rsplit("\ndef ", 1)[-1].removeprefix("def ").split("(", 1)[0]
    return run_python_tool(source, name, args or {}, **kwargs)


def test_arguments_in_as_json_result_out_as_json_with_output_captured():
    result = run(
        "def add(a: int, b: int):\n    print('adding', a, b)\n    return {'sum': a + b, 'items': [a, b]}",
        {"a": 2, "b": 3},
    )
    assert result.status == "success"
    assert result.func_return == {"sum": 5, "items": [2, 3]}
    assert result.stdout == ["adding 2 3\n"]
    assert result.stderr == []


def test_values_json_cannot_hold_come_back_as_text_never_unpickled():
    source = (
        "class Sneaky:\n"
        "    def __reduce__(self):\n"
        "        return (print, ('unpickled!',))\n"
        "    def __str__(self):\n"
        "        return 'a sneaky object'\n"
        "def make():\n"
        "    return Sneaky()\n"
    )
    result = run(source)
    assert result.status == "success"
    assert result.func_return == "a sneaky object"


def test_a_tool_that_hangs_is_killed_at_the_timeout_with_its_children():
    marker = f"{600 + os.getpid() % 1000}.{time.monotonic_ns() % 10**6}"  # a sleep only this test starts
    source = (
        f"import subprocess, sys, time\ndef hang():\n    subprocess.Popen(['sleep', '{marker}'])\n    time.sleep(600)\n"
    )
    started = time.monotonic()
    result = run(source, timeout=1)
    assert time.monotonic() - started < 10
    assert result.status == "error"
    assert result.func_return == (
        "Error executing function hang: TimeoutError: the tool did not finish within 1 seconds and was stopped"
    )
    assert _gone(marker), "the tool's own child process survived the timeout"


def _running(marker: str) -> list[int]:
    """Host pids of live processes whose command line holds `marker` (pids inside a sandbox mean nothing here)."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry.name}/stat") as f:
                zombie = f.read().split(") ", 1)[1].startswith("Z")
        except (FileNotFoundError, NotADirectoryError, ProcessLookupError, PermissionError):
            continue
        if marker.encode() in cmdline and not zombie and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _gone(marker: str) -> bool:
    for _ in range(100):  # killed at once; reaping can take a moment
        if not _running(marker):
            return True
        time.sleep(0.02)
    return False


def test_a_raising_tool_reports_the_exception_type_and_message():
    result = run("def explode(reason: str):\n    raise ValueError(f'boom: {reason}')", {"reason": "testing"})
    assert result.status == "error"
    assert result.func_return == "Error executing function explode: ValueError: boom: testing"
    assert 'File "<tool>", line 2, in explode' in result.stderr[0]
    assert "sandbox_runner" not in result.stderr[0]  # the runner's frames are not the user's business


def test_exit_and_missing_function_are_errors_too():
    assert run("import os\ndef leave():\n    os._exit(3)").func_return == (
        "Error executing function leave: ToolProcessError: the tool process exited with code 3 before returning "
        "a result"
    )
    result = run_python_tool("def real():\n    return 1", "other", {})
    assert (
        result.func_return == "Error executing function other: NameError: the source defines no function named 'other'"
    )


def test_printing_megabytes_is_capped_and_the_result_still_arrives():
    source = (
        "import sys\n"
        "def chatty():\n"
        "    for _ in range(20_000):\n"
        "        sys.stdout.write('x' * 1000)\n"
        "        sys.stderr.write('y' * 1000)\n"
        "    return 'done'\n"
    )
    result = run(source)
    assert result.status == "success" and result.func_return == "done"
    for stream in (result.stdout, result.stderr):
        assert len(stream) == 1
        assert len(stream[0]) < OUTPUT_CAP_BYTES + 200
        assert stream[0].endswith(f"[... output truncated: {20_000_000 - OUTPUT_CAP_BYTES} more bytes not shown]")


def test_memory_is_limited():
    result = run("def hog():\n    return len(bytearray(3 * 1024 ** 3))", memory_mb=256)
    assert result.status == "error"
    assert result.func_return == "Error executing function hog: MemoryError: out of memory (the limit is 256 MB)"


def test_cpu_time_is_limited_even_when_the_wall_clock_allows_more(settings):
    # The CPU limit is the timeout rounded up plus one second: a busy loop dies of SIGXCPU or of the timeout.
    result = run("def spin():\n    while True:\n        pass", timeout=2)
    assert result.status == "error"
    assert "TimeoutError" in result.func_return or "SIGXCPU" in result.func_return


def test_the_server_environment_and_secrets_are_invisible(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret-value")
    monkeypatch.setenv("DATABASE_URL", "postgresql://engram@127.0.0.1:55432/engram")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-key")
    source = (
        "import os, sys\n"
        "def snoop():\n"
        "    found = {'env': dict(os.environ), 'cwd': os.getcwd(), 'files': os.listdir('.')}\n"
        "    try:\n"
        "        import ade.settings\n"
        "        found['settings'] = ade.settings.SECRET_KEY\n"
        "    except Exception as exc:\n"
        "        found['settings'] = type(exc).__name__\n"
        "    try:\n"
        "        from django.conf import settings\n"
        "        found['django'] = settings.SECRET_KEY\n"
        "    except Exception as exc:\n"
        "        found['django'] = type(exc).__name__\n"
        "    return found\n"
    )
    result = run(source, env={"WEATHER_API_KEY": "tool-secret"})
    assert result.status == "success", result.func_return
    env = result.func_return["env"]
    assert env["WEATHER_API_KEY"] == "tool-secret"
    assert not {"SECRET_KEY", "DATABASE_URL", "OPENAI_API_KEY", "DJANGO_SETTINGS_MODULE", "REDIS_URL"} & set(env)
    assert "server-secret-value" not in str(result.func_return)
    assert result.func_return["settings"] == "ModuleNotFoundError"  # the project is not on the tool's path
    # Unconfigured at best; as the unprivileged user the system Python has no Django at all.
    assert result.func_return["django"] in ("ImproperlyConfigured", "ModuleNotFoundError")
    assert result.func_return["files"] == []  # a fresh scratch directory, not the project


PROBE = """
import os, socket
def probe(paths, host, port):
    seen = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                seen[path] = len(f.read(16))
        except OSError as exc:
            seen[path] = type(exc).__name__
    try:
        socket.create_connection((host, port), timeout=2).close()
        seen["network"] = "connected"
    except OSError as exc:
        seen["network"] = type(exc).__name__
    seen["env"] = sorted(os.environ)
    return seen
"""


def test_a_tool_cannot_read_the_secret_key_the_database_or_the_server_environment(settings):
    """Not just a clean environment: the files and sockets themselves are out of reach."""
    db = settings.DATABASES["default"]
    database_file = db["NAME"] if db["ENGINE"].endswith("sqlite3") else None
    if database_file and not str(database_file).startswith(str(settings.VAR_DIR)):
        database_file = None  # a test database placed outside var/ by a developer's override
    paths = [
        str(settings.VAR_DIR / "secret_key"),
        f"/proc/{os.getpid()}/environ",
        *([database_file] if database_file else []),
    ]
    on_postgres = db["ENGINE"].endswith("postgresql")
    host, port = (db["HOST"], int(db["PORT"])) if on_postgres else ("127.0.0.1", 6390)  # else: Redis
    for path in paths:
        assert os.path.exists(path), path  # the server itself can read them

    seen = run(PROBE, {"paths": paths, "host": host, "port": port}).func_return

    assert all(seen[path] in ("PermissionError", "FileNotFoundError") for path in paths), seen
    assert seen["network"] != "connected"
    assert "SECRET_KEY" not in seen["env"] and "DATABASE_URL" not in seen["env"]


@pytest.mark.parametrize("env", [{"bad name": "x"}, {"OK": 3}])
def test_bad_environment_variables_are_refused(env):
    from ade.errors import Invalid

    with pytest.raises(Invalid) as info:
        run("def f():\n    return 1", env=env)
    assert info.value.field == "env"


# run_isolated / start_isolated: any program, isolated the same way (run_code and stdio MCP servers use them).

ECHO_AND_LOOK = (
    "import os, socket, sys\n"
    "print(sys.stdin.read().upper(), os.environ.get('GREETING'), os.environ.get('SECRET_KEY'))\n"
    "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2).close()\n"
    "    print('connected')\n"
    "except OSError as exc:\n"
    "    print(type(exc).__name__)\n"
)


@pytest.mark.parametrize("network", [False, True])
def test_run_isolated_runs_any_program_with_only_its_input_and_environment(monkeypatch, network):
    monkeypatch.setenv("SECRET_KEY", "server-secret")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        done = run_isolated(
            [sandbox_python(), "-c", ECHO_AND_LOOK, str(port)],
            env={"GREETING": "hi"},
            stdin=b"from stdin",
            timeout=10,
            network=network,
        )
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 0 and not done.timed_out, done.stderr
    assert lines[0] == "FROM STDIN hi None"
    assert os.getpid() not in json.loads(lines[1])  # its own PID namespace: a handful of its own processes
    assert len(json.loads(lines[1])) < 5
    assert lines[2] == ("connected" if network else "ConnectionRefusedError")


def test_run_isolated_stops_a_program_at_the_timeout():
    started = time.monotonic()
    done = run_isolated([sandbox_python(), "-c", "import time; time.sleep(60)"], timeout=1)
    assert done.timed_out and time.monotonic() - started < 10


def test_start_isolated_gives_a_long_lived_program_pipes():
    proc = start_isolated(
        [sandbox_python(), "-c", "import sys\nfor line in sys.stdin:\n    print(line.strip()[::-1], flush=True)"]
    )
    try:
        proc.stdin.write(b"olleh\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"hello\n"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
