"""Shared fixtures: named personas and small factories. Real services come from the environment
(DATABASE_URL, REDIS_URL); tests that need Redis and workers are marked `services`."""

import contextlib
import os

import pytest
from django.conf import settings

from tests.workers import celery_workers  # noqa: F401 (fixture: real Celery workers for `services` tests)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop in the main thread
os.environ.setdefault("SCRIPTED_LLM_AUTOSTART", "0")
# The tests are the laptop case: custom endpoints on loopback (fake providers) are allowed, also on PostgreSQL and
# in the servers and workers the tests start (pytest-django has read the settings already, hence both).
os.environ.setdefault("ALLOWED_MODEL_HOSTS", "127.0.0.0/8,::1")
settings.ALLOWED_MODEL_HOSTS = os.environ["ALLOWED_MODEL_HOSTS"].split(",")
# In-process tests ingest uploads in the uploading thread (their rows live in the test's transaction); servers and
# workers the tests start ingest off the request thread as deployed (tests/test_sec_ingest.py checks that path).
settings.INGEST_INLINE = True
settings.PASSWORD_HASHERS = ["tests.hashers.FastPBKDF2PasswordHasher", *settings.PASSWORD_HASHERS]


def pytest_collection_modifyitems(config, items):
    # Browser tests last: pytest-playwright leaves an event loop running that breaks later asyncio tests.
    items.sort(key=lambda item: 1 if item.get_closest_marker("e2e") else 0)
    if not os.environ.get("REDIS_URL"):
        skip = pytest.mark.skip(reason="needs REDIS_URL (real Redis and Celery workers)")
        for item in items:
            if item.get_closest_marker("services"):
                item.add_marker(skip)


@pytest.fixture
def org(db):
    from accounts.models import Organization

    return Organization.objects.create(name="Acme")


@pytest.fixture
def alice(org):
    from accounts.actions import create_user

    return create_user("alice", "correct horse battery", organization=org)


@pytest.fixture
def bob(org):
    from accounts.actions import create_user

    return create_user("bob", "correct horse battery", organization=org)


@pytest.fixture
def mallory(db):
    from accounts.actions import create_user

    return create_user("mallory", "correct horse battery", org_name="Evil Corp")


@pytest.fixture
def alice_key(alice):
    from accounts.actions import create_api_key

    return create_api_key(alice, "tests")[1]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, scripted_llm_server, tmp_path_factory):
    """A real Engram server (daphne: HTTP + websockets) in a subprocess, on the test database, calling the
    session's scripted model.

    Tests that use it must be `@pytest.mark.django_db(transaction=True)` so their rows are committed and visible
    to the server. Its output goes to `live_server.log` in the session's tmp dir (path in `live_server_url.log`).
    """
    with serve(tmp_path_factory.mktemp("live_server")) as url:
        yield url


@contextlib.contextmanager
def serve(log_dir, **env_overrides):
    """Run daphne on the test database (with `env_overrides`) until the block ends; yields its LiveServerUrl."""
    import subprocess
    import sys
    import time
    import urllib.request

    from django.conf import settings
    from django.db import connections

    port = _free_port()
    log_path = log_dir / "live_server.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ade.settings",
        "DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
        "CELERY_EAGER": os.environ.get("CELERY_EAGER", "1"),
        "PYTHONUNBUFFERED": "1",
        # The tests' own servers (MCP) listen on loopback: allowed here as an operator of one machine would.
        "ALLOWED_MODEL_HOSTS": os.environ.get("ALLOWED_MODEL_HOSTS", "127.0.0.1"),
        **env_overrides,
    }
    connections.close_all()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ade.serve", "-b", "127.0.0.1", "-p", str(port), "ade.asgi:application"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/health/", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"live server did not start:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.1)
    try:
        yield LiveServerUrl(url, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class LiveServerUrl(str):
    """The server's base URL (a str), with `.log` = the path of its output."""

    def __new__(cls, url, log):
        obj = super().__new__(cls, url)
        obj.log = log
        return obj


@pytest.fixture(autouse=True)
def _celery_eager_unless_services(request):
    """Only `services` tests hand work to real Celery workers; all others run tasks inline, as embedded."""
    from ade.celery import app, set_eager

    before = app.conf.task_always_eager
    set_eager(request.node.get_closest_marker("services") is None)
    yield
    set_eager(before)


@pytest.fixture
def alice_api(alice_key):
    """The /v1 API as alice (Django test client with her key)."""
    from tests.apiclient import ApiClient

    return ApiClient(alice_key)


@pytest.fixture
def mallory_api(mallory):
    """The /v1 API as mallory, who belongs to another organization."""
    from accounts.actions import create_api_key
    from tests.apiclient import ApiClient

    return ApiClient(create_api_key(mallory, "tests")[1])


@pytest.fixture(scope="session")
def scripted_llm_server():
    """The scripted model server for the whole session (no pacing). Its URL is also exported as
    SCRIPTED_LLM_URL so subprocesses started afterwards (live server, workers) reach the same server."""
    from agents.scripted.server import ScriptedServer

    server = ScriptedServer().start()
    previous = os.environ.get("SCRIPTED_LLM_URL")
    os.environ["SCRIPTED_LLM_URL"] = server.url
    yield server
    if previous is None:
        os.environ.pop("SCRIPTED_LLM_URL", None)
    else:
        os.environ["SCRIPTED_LLM_URL"] = previous
    server.stop()


@pytest.fixture
def scripted_llm(scripted_llm_server, settings):
    """A `ScriptedClient` (queue/reset/requests) on a freshly reset scripted model; agents whose model is
    engram/scripted call it over real HTTP through litellm."""
    from agents.scripted.server import ScriptedClient

    settings.SCRIPTED_LLM_URL = scripted_llm_server.url
    client = ScriptedClient(scripted_llm_server.url, scripted_llm_server.control_token)
    client.reset()
    yield client
    client.close()


@pytest.fixture(scope="session")
def socket_sessions_ended(django_db_setup, django_db_blocker):
    """For tests that drive the page consumers with channels' communicators: those switch channels'
    close_old_connections off while they run, so the executor thread the consumers query from keeps a connection
    to the test database, which PostgreSQL will not drop while it is open. Those sessions are ended once, at the
    end of the run. Ending them after every test instead left that thread a dead connection, which failed the next
    test's first query there (the session read of channels' auth)."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
