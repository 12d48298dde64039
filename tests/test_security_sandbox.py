"""Attacks from a custom tool, as issue #10 reproduced them: on the server, on other tenants' tools, on the machine.

Every probe runs in both deployments this machine allows: the server as root (this test process) and the server as
an unprivileged user (a small entry started by the test under setpriv, calling the same tools.sandbox code).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tools.sandbox import SandboxUnavailable, run_python_tool

ROOT = Path(__file__).resolve().parent.parent
UNPRIVILEGED_UID = 65534  # nobody
# The unprivileged "server": the system Python with the project's code and packages on its path (the venv's own
# interpreter lives under /root, which that user cannot read), settings made here rather than from ade.settings.
ENTRY = """
import json, os, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from django.conf import settings
settings.configure(**json.loads(sys.argv[3]))
from tools.sandbox import run_python_tool
request = json.load(sys.stdin)
print("ready", flush=True)
result = run_python_tool(request["source"], request["name"], request["args"], env=request["env"],
                         timeout=request["timeout"], memory_mb=request["memory_mb"])
print(json.dumps({"status": result.status, "value": result.func_return}))
"""
TOOL_SETTINGS = ("TOOL_SANDBOX", "TOOL_SANDBOX_USER", "TOOL_SANDBOX_PYTHON", "TOOL_ALLOW_NETWORK")


def site_packages() -> str:
    return next(p for p in sys.path if p.endswith("site-packages") and ".venv" in p)


def as_root(source, name, args, *, env=None, timeout=10, memory_mb=None, server_env=None):
    saved = dict(os.environ)
    os.environ.update(server_env or {})
    try:
        result = run_python_tool(source, name, args, env=env, timeout=timeout, memory_mb=memory_mb)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return result.status, result.func_return


def as_unprivileged(source, name, args, *, env=None, timeout=10, memory_mb=None, server_env=None):
    config = {key: getattr(django_settings, key) for key in TOOL_SETTINGS}
    config |= {"TOOL_TIMEOUT_SECONDS": 10, "TOOL_MEMORY_MB": 512, "TOOL_MAX_PROCESSES": 32}
    request = {"source": source, "name": name, "args": args, "env": env, "timeout": timeout, "memory_mb": memory_mb}
    done = subprocess.run(  # noqa: S603
        [
            "setpriv",
            f"--reuid={UNPRIVILEGED_UID}",
            f"--regid={UNPRIVILEGED_UID}",
            "--clear-groups",
            "--",
            "/usr/bin/python3",
            "-I",
            "-c",
            ENTRY,
            str(ROOT),
            site_packages(),
            json.dumps(config),
        ],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **(server_env or {})},
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2, done.stderr
    outcome = json.loads(lines[1])
    return outcome["status"], outcome["value"]


@pytest.fixture(params=["root", "unprivileged"])
def server(request):
    if request.param == "root" and os.geteuid() != 0:
        pytest.skip("the server-as-root deployment needs this test to run as root")
    if request.param == "unprivileged" and os.geteuid() != 0:
        return as_root  # this process already is an unprivileged server
    return as_root if request.param == "root" else as_unprivileged


def running(marker: str) -> list[int]:
    """Host pids of live processes whose command line holds `marker`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            zombie = Path(f"/proc/{entry.name}/stat").read_text().split(") ", 1)[1].startswith("Z")
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and not zombie:
            found.append(int(entry.name))
    return found


def wait_until(condition, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def marker() -> str:
    return f"engram-probe-{os.getpid()}-{time.monotonic_ns()}"


# A tenant's tool holding a secret in its environment and memory, with a child process the attacker can find by
# its command line; it reports whether the child survived and what it still holds.
VICTIM = """
import os, subprocess, sys
def victim(marker: str):
    held = "in-memory-" + os.environ["TENANT_SECRET"]
    child = subprocess.run([sys.executable, "-c", "import time; time.sleep(3)", marker])
    return {"child": child.returncode, "env": os.environ["TENANT_SECRET"], "memory": held}
"""

# Another tenant's tool: everything issue #10 did to the victim. It proves the probes work by running them on a
# child of its own too.
ATTACKER = """
import ctypes, os, signal, subprocess, sys, time
PTRACE_SEIZE, PTRACE_DETACH = 0x4206, 17

def attack(marker: str, own_marker: str):
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", own_marker],
                            env={"OWN_SECRET": "own-value"})
    time.sleep(0.3)
    libc = ctypes.CDLL(None, use_errno=True)
    report = {"seen": [], "own": [], "environ": [], "mem": [], "ptrace": [], "killed": []}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if own_marker.encode() in cmdline:
            report["own"].append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
            continue
        if marker.encode() not in cmdline:
            continue
        report["seen"].append(pid)
        try:
            report["environ"].append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        except OSError as exc:
            report["environ"].append(type(exc).__name__)
        try:
            start = int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16)
            with open(f"/proc/{pid}/mem", "rb") as mem:
                mem.seek(start)
                report["mem"].append(len(mem.read(64)))
        except (OSError, ValueError) as exc:
            report["mem"].append(type(exc).__name__)
        if libc.ptrace(PTRACE_SEIZE, pid, None, None) == 0:
            report["ptrace"].append(pid)
            libc.ptrace(PTRACE_DETACH, pid, None, None)
        try:
            os.kill(pid, signal.SIGKILL)
            report["killed"].append(pid)
        except OSError:
            pass
    mine.kill()
    return report
"""


def test_another_tenants_running_tool_is_invisible_and_untouchable(server):
    victim_marker, own_marker = marker(), marker()
    outcome = {}
    thread = threading.Thread(
        target=lambda: outcome.update(
            victim=server(VICTIM, "victim", {"marker": victim_marker}, env={"TENANT_SECRET": "org-a-secret"})
        )
    )
    thread.start()
    try:
        assert wait_until(lambda: running(victim_marker)), "the victim's child never started"
        status, report = server(ATTACKER, "attack", {"marker": victim_marker, "own_marker": own_marker})
    finally:
        thread.join(30)

    assert status == "success", report
    assert report["own"] and "OWN_SECRET=own-value" in report["own"][0]  # the probes work where they may
    assert report["seen"] == [], report  # another execution's processes do not exist for this one
    assert "org-a-secret" not in json.dumps(report)
    assert report["environ"] == report["mem"] == report["ptrace"] == report["killed"] == []
    assert outcome["victim"] == (
        "success",
        {"child": 0, "env": "org-a-secret", "memory": "in-memory-org-a-secret"},
    )


def test_a_tool_cannot_outlive_its_timeout_by_forking_into_a_new_session(server):
    tag = marker()
    source = f"""
import os, sys, time
def escape():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "{tag}"])
        os._exit(0)
    time.sleep(60)
"""
    status, message = server(source, "escape", {}, timeout=1)
    assert status == "error" and "TimeoutError" in message
    assert wait_until(lambda: not running(tag), 5), "the grandchild outlived the tool"


def test_a_fork_bomb_runs_out_of_processes(server):
    source = """
import os, time
def bomb():
    started = 0
    for _ in range(200):
        try:
            if os.fork() == 0:
                time.sleep(2)
                os._exit(0)
            started += 1
        except OSError:
            break
    return started
"""
    outcomes = []
    bombs = [threading.Thread(target=lambda: outcomes.append(server(source, "bomb", {}, timeout=8))) for _ in range(2)]
    for bomb in bombs:
        bomb.start()
    for bomb in bombs:
        bomb.join(60)
    assert [status for status, _ in outcomes] == ["success", "success"], outcomes
    # TOOL_MAX_PROCESSES (32) for the whole execution, not 200; and each execution has its own budget, so one
    # tenant's bomb running at the same time does not starve another's tool of processes.
    assert all(20 < started < 40 for _, started in outcomes), outcomes


def test_memory_is_a_budget_for_all_the_tools_processes_together(server):
    source = """
import os, time
def hog():
    reader, writer = os.pipe()
    for _ in range(4):
        if os.fork() == 0:
            block = bytearray(b"x") * (400 * 1024 * 1024)
            os.write(writer, b"+")
            time.sleep(20)
            os._exit(len(block) and 0)
    os.close(writer)
    got = b""
    while len(got) < 4:
        chunk = os.read(reader, 4)
        if not chunk:
            break
        got += chunk
    return len(got)
"""
    status, message = server(source, "hog", {}, timeout=20, memory_mb=512)
    assert status == "error", f"4 x 400 MB children all ran under a 512 MB budget: {message}"
    assert "MemoryError" in message


def test_files_in_tmp_and_shared_memory_are_capped_and_die_with_the_tool(server):
    name = marker()
    writer = f"""
import os
def fill():
    written = {{}}
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        path = os.path.join(folder, "{name}")
        total = 0
        try:
            with open(path, "wb") as f:
                for _ in range(200):
                    f.write(b"x" * (1024 * 1024))
                    total += 1
        except OSError:
            pass
        written[folder] = total
    return written
"""
    status, written = server(writer, "fill", {}, timeout=20)
    assert status == "success", written
    assert all(megabytes < 100 for megabytes in written.values()), written  # 200 MB each did not fit
    reader = f"""
import os
def look():
    return [folder for folder in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(os.path.join(folder, "{name}"))]
"""
    assert server(reader, "look", {}) == ("success", [])
    elsewhere = """
import os, subprocess
def write_elsewhere():
    refused = []
    for path in ("/x", "/etc/x", "/var/x", "/dev/x", "/usr/x"):
        try:
            open(path, "w").write("x")
        except OSError:
            refused.append(path)
    nested = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True)
    return {"refused": refused, "nested_namespace": nested.returncode == 0}
"""
    status, found = server(elsewhere, "write_elsewhere", {})
    assert status == "success", found
    assert found["refused"] == ["/x", "/etc/x", "/var/x", "/dev/x", "/usr/x"]  # only the capped tmpfs take files
    assert found["nested_namespace"] is False
    assert not any(os.path.exists(os.path.join(folder, name)) for folder in ("/tmp", "/var/tmp", "/dev/shm"))


SERVER_PROBE = """
import os, socket
def probe(paths, ports):
    seen = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                seen[path] = f.read(64).decode(errors="replace")
        except OSError as exc:
            seen[path] = type(exc).__name__
    for pid in [n for n in os.listdir("/proc") if n.isdigit()]:
        try:
            seen["environ " + pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
        except OSError:
            pass
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            seen[port] = "connected"
        except OSError as exc:
            seen[port] = type(exc).__name__
    return seen
"""


def test_the_servers_files_environment_and_local_services_are_out_of_reach(server):
    """The server's own secret file (var/secret_key, a SQLite database), its /proc/<pid>/environ, and 127.0.0.1."""
    folder = Path(tempfile.mkdtemp(prefix="engram-server-var-"))
    try:
        secret = folder / "secret_key"
        secret.write_text("server-secret-key-value")
        database = folder / "engram.sqlite3"
        database.write_text("SQLite format 3 - another organization's rows")
        for path in (folder, secret, database):  # owned by the server's user, whichever it is
            os.chown(path, UNPRIVILEGED_UID if server is as_unprivileged else os.geteuid(), -1)
        folder.chmod(0o700)
        listener = socket.create_server(("127.0.0.1", 0))  # stands for PostgreSQL / Redis on loopback
        ports = [listener.getsockname()[1], 55432, 6390]
        server_pid = os.getpid()
        with listener:
            status, seen = server(
                SERVER_PROBE,
                "probe",
                {
                    "paths": [str(secret), str(database), f"/proc/{server_pid}/environ", "/proc/1/environ"],
                    "ports": ports,
                },
                server_env={"SECRET_KEY": "server-secret-key-value", "OPENAI_API_KEY": "sk-operator"},
            )
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    assert status == "success", seen
    leaked = json.dumps(seen)
    for secret_text in ("server-secret-key-value", "sk-operator", "another organization", "DATABASE_URL"):
        assert secret_text not in leaked, seen
    assert all(seen[str(port)] != "connected" for port in ports), seen
    assert seen[str(secret)] in ("FileNotFoundError", "PermissionError")


def test_without_isolation_custom_tools_are_refused_with_one_error_naming_the_setting(
    alice_api, monkeypatch, settings, tmp_path
):
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without bubblewrap
    source = 'def hello() -> str:\n    """Say hello."""\n    return "hello"\n'
    with pytest.raises(SandboxUnavailable) as info:
        run_python_tool(source, "hello", {})
    assert "bubblewrap" in str(info.value) and "TOOL_SANDBOX=unsafe-local" in str(info.value)

    r = alice_api.post("/v1/tools/run", {"source_code": source, "args": {}})
    assert r.status_code == 503 and "TOOL_SANDBOX" in r.json()["detail"], r.content

    settings.TOOL_SANDBOX = "unsafe-local"  # the operator's explicit choice on a single-user laptop
    r = alice_api.post("/v1/tools/run", {"source_code": source, "args": {}})
    assert r.status_code == 200 and r.json()["tool_return"] == "hello", r.content


# The whole path of the reproduction: a real daphne running as an unprivileged user (like the Docker image's
# `engram`), its own SQLite database and secrets in its var/, and a tenant's POST /v1/tools/run.

PEEK = '''
def peek(paths: list, pids: list, ports: list) -> dict:
    """Look for the server's secrets."""
    import os, socket
    seen = {}
    for path in paths + [f"/proc/{pid}/environ" for pid in pids]:
        try:
            with open(path, "rb") as f:
                seen[path] = f.read(4096).decode(errors="replace")
        except OSError as exc:
            seen[path] = type(exc).__name__
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            seen[str(port)] = "connected"
        except OSError as exc:
            seen[str(port)] = type(exc).__name__
    seen["visible"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return seen
'''


@pytest.fixture(scope="module")
def unprivileged_daphne():
    if os.geteuid() != 0:
        pytest.skip("starting a server as another user needs root")
    var = Path(tempfile.mkdtemp(prefix="engram-unprivileged-var-"))
    os.chown(var, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    var.chmod(0o700)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(var),
        "PYTHONPATH": f"{ROOT}:{site_packages()}",
        "DJANGO_SETTINGS_MODULE": "ade.settings",
        "ENGRAM_VAR_DIR": str(var),
        "SECRET_KEY": "unprivileged-server-secret-key",
        "OPENAI_API_KEY": "sk-operator-unprivileged",
        "SCRIPTED_LLM_AUTOSTART": "0",
        "PORT": str(port),
    }
    drop = ["setpriv", f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}", "--clear-groups", "--"]
    manage = [*drop, "/usr/bin/python3", str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, cwd=ROOT, check=True, timeout=300)  # noqa: S603
    first_run = subprocess.run(  # noqa: S603
        [*manage, "bootstrap"], env=env, cwd=ROOT, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    key = next(line.split()[-1] for line in first_run.splitlines() if "API key" in line)
    log = open(var / "daphne.log", "wb")  # noqa: SIM115 - closed below
    daphne = subprocess.Popen(  # noqa: S603
        [*drop, "/usr/bin/python3", "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "ade.asgi:application"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _healthy(url) or daphne.poll() is not None, 120), "daphne did not start"
        assert daphne.poll() is None, (var / "daphne.log").read_text()
        yield {"url": url, "key": key, "pid": daphne.pid, "var": var, "port": port}
    finally:
        daphne.terminate()
        daphne.wait(15)
        log.close()
        subprocess.run(["rm", "-rf", str(var)], check=False)  # noqa: S603, S607


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/v1/health/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_tenants_tool_on_an_unprivileged_server_reaches_none_of_its_secrets(unprivileged_daphne):
    import httpx

    server = unprivileged_daphne
    var = server["var"]
    secret_file = var / "secret_key"
    subprocess.run(  # noqa: S603 - as the server's user, like settings would write it
        [
            "setpriv",
            f"--reuid={UNPRIVILEGED_UID}",
            f"--regid={UNPRIVILEGED_UID}",
            "--clear-groups",
            "--",
            "/bin/sh",
            "-c",
            f"umask 077; printf unprivileged-secret-file > {secret_file}",
        ],
        check=True,
    )
    args = {
        "paths": [str(var / "engram.sqlite3"), str(secret_file)],
        "pids": [server["pid"], "self"],
        "ports": [server["port"], 55432, 6390],
    }
    r = httpx.post(
        server["url"] + "/v1/tools/run",
        json={"source_code": PEEK, "args": args},
        headers={"Authorization": f"Bearer {server['key']}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success", r.text
    seen = json.loads(r.json()["tool_return"]) if isinstance(r.json()["tool_return"], str) else r.json()["tool_return"]
    leaked = json.dumps(seen)
    for secret in (
        "unprivileged-server-secret-key",
        "sk-operator-unprivileged",
        "SQLite format",
        "unprivileged-secret",
    ):
        assert secret not in leaked, seen
    assert all(seen[str(port)] != "connected" for port in args["ports"]), seen
    assert server["pid"] not in seen["visible"] and len(seen["visible"]) < 5, seen


def test_a_running_tool_dies_with_a_killed_server(server):
    """A server killed outright (OOM killer, kill -9) leaves no tool running without a timeout (bwrap --die-with-parent)."""
    tag = marker()
    source = f"import subprocess, sys\ndef hang():\n    subprocess.run([sys.executable, '-c', 'import time; time.sleep(300)', '{tag}'])\n"
    drop = (
        []
        if server is as_root
        else ["setpriv", f"--reuid={UNPRIVILEGED_UID}", f"--regid={UNPRIVILEGED_UID}", "--clear-groups", "--"]
    )
    config = {key: getattr(django_settings, key) for key in TOOL_SETTINGS}
    config |= {"TOOL_TIMEOUT_SECONDS": 10, "TOOL_MEMORY_MB": 512, "TOOL_MAX_PROCESSES": 32}
    request = {"source": source, "name": "hang", "args": {}, "env": None, "timeout": 60, "memory_mb": None}
    entry = subprocess.Popen(  # noqa: S603
        [*drop, "/usr/bin/python3", "-I", "-c", ENTRY, str(ROOT), site_packages(), json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        cwd="/",
    )
    entry.stdin.write(json.dumps(request).encode())
    entry.stdin.close()
    try:
        assert wait_until(lambda: running(tag)), "the tool never started"
    finally:
        entry.kill()
        entry.wait()
    assert wait_until(lambda: not running(tag), 5), "the tool outlived the server"
