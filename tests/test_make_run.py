"""`make run` honours DATABASE_URL and REDIS_URL: with REDIS_URL a Celery worker runs beside daphne in the same
foreground process group, and Ctrl-C stops both. `bootstrap` prints the port it serves on."""

import io
import os
import signal
import subprocess
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from letta_client import Letta

from agents.models import Run
from tests.faultkit import RedisServer, free_port, wait_for


def test_bootstrap_prints_the_port_it_serves_on(db, monkeypatch):
    monkeypatch.setenv("PORT", "8765")
    out = io.StringIO()
    call_command("bootstrap", stdout=out)
    assert "http://127.0.0.1:8765/" in out.getvalue()


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_make_run_with_redis_url_runs_turns_on_a_worker_and_ctrl_c_stops_both(tmp_path, alice_key, scripted_llm_server):
    from django.db import connections

    redis = RedisServer(tmp_path)
    redis.start()
    database = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{settings.DATABASES['default']['NAME']}")
    port, log_path = free_port(), tmp_path / "make-run.log"
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(database),
        "REDIS_URL": redis.url,
        "SCRIPTED_LLM_AUTOSTART": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_EAGER", None)
    env.pop("DATABASE_NAME", None)
    connections.close_all()
    # -o: the packages are installed already; this exercises the recipe, not pip.
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            ["make", "-o", "install", "-o", "sandbox-deps", "run", f"PORT={port}"],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy():
            assert make.poll() is None, log_path.read_text()[-4000:]
            try:
                return httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 120, "make run to serve")
        wait_for(lambda: " ready." in log_path.read_text(), 120, "its worker to be ready")
        with Letta(base_url=url, api_key=alice_key, max_retries=0, timeout=60) as letta:
            agent = letta.agents.create(
                name="make-run", model="engram/scripted", embedding="local/all-minilm-l6-v2", memory_blocks=[]
            )
            run = letta.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "on a worker"}])
        wait_for(lambda: Run.objects.get(id=run.id).status == "completed", 90, "the turn to complete")
        assert "agents.execute_queued[" in log_path.read_text()  # the worker's log, in the same terminal
    finally:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C in the terminal
        try:
            try:
                make.wait(timeout=60)
            except subprocess.TimeoutExpired:
                ps = subprocess.run(
                    ["ps", "-o", "pid,stat,etime,args", "-g", str(make.pid)], capture_output=True, text=True
                )
                pytest.fail(f"make run still running 60 s after Ctrl-C:\n{ps.stdout}\n{log_path.read_text()[-4000:]}")
            wait_for(lambda: not _process_group_alive(make.pid), 60, "daphne and the worker to exit")
        finally:
            if _process_group_alive(make.pid):
                os.killpg(make.pid, signal.SIGKILL)
            redis.stop()
