"""PostgreSQL restarted during a load (issue #11 item 7), on a stack with a database of its own
(tests/faultkit.py `PostgresServer`: the shared server is never restarted). Turns whose reply was stored are
never marked failed, clients never see a raw driver error (a 503 with a clear message at worst), a client's
retry with the same otid gets the same turn, and no run is left queued or running."""

import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
from django.conf import settings
from letta_client import APIStatusError, Letta

from tests.faultkit import PostgresServer, Stack, wait_for

pytestmark = [pytest.mark.services]

AGENTS, TURNS = 3, 6  # 18 turns of ~0.6 s over 3 agents; the restart lands in the middle
RAW_DRIVER_WORDS = ("psycopg", "OperationalError", "InterfaceError", "terminating connection", "server closed")
CREATE_KEY = (
    "from accounts.actions import create_api_key, create_user;"
    "u = create_user('faults', 'faults-only-password', org_name='Faults');"
    "print(create_api_key(u, 'faults')[1])"
)


@pytest.fixture(scope="module")
def pg_stack(scripted_llm_server, tmp_path_factory):
    pg = PostgresServer().start()
    stack = Stack(tmp_path_factory.mktemp("faults-pg"), database_url=pg.url)
    try:
        manage = [sys.executable, "manage.py"]
        options = {"env": stack.env, "cwd": settings.BASE_DIR, "check": True, "capture_output": True, "text": True}
        subprocess.run([*manage, "migrate", "-v0"], **options)
        stack.api_key = subprocess.run([*manage, "shell", "-c", CREATE_KEY], **options).stdout.strip().splitlines()[-1]
        stack.env["DATABASE_POOL_TIMEOUT"] = "3"  # with the database down, a request gives up after 3 s
        stack.start()
        yield stack, pg
    finally:
        stack.stop()
        pg.stop()


def send(letta: Letta, agent_id: str, text: str, errors: list) -> str:
    """One message, sent again with the same otid after a 503 (as a client retries), until it succeeds."""
    otid = str(uuid.uuid4())
    deadline = time.monotonic() + 90
    while True:
        try:
            response = letta.agents.messages.create(
                agent_id, messages=[{"role": "user", "content": text, "otid": otid}]
            )
            return next(m.content for m in response.messages if m.message_type == "assistant_message")
        except APIStatusError as exc:
            errors.append((exc.status_code, exc.message))
            if exc.status_code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_postgres_restarted_during_a_load(pg_stack, scripted_llm):
    stack, pg = pg_stack
    scripted_llm.queue({"text": "stored reply", "delay_ms": 600, "repeat": 1000})
    errors, replies, failures = [], {}, []
    with Letta(base_url=stack.web.url, api_key=stack.api_key, max_retries=0, timeout=120) as letta:
        agent_ids = [
            letta.agents.create(name=f"pg-{i}", model="engram/scripted", embedding="local/all-minilm-l6-v2").id
            for i in range(AGENTS)
        ]

        def converse(agent_id: str) -> None:
            try:
                for i in range(TURNS):
                    text = f"pg-load-{agent_id[-6:]}-{i}"
                    replies[text] = (agent_id, send(letta, agent_id, text, errors))
            except Exception as exc:  # reported below, with everything else
                failures.append(repr(exc))

        threads = [threading.Thread(target=converse, args=(a,)) for a in agent_ids]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(replies) >= AGENTS, 120, "the load to get going")
        # Restarted while turns wait for the model (their connections were checked out before the restart).
        wait_for(lambda: len(scripted_llm.requests()) > len(replies), 60, "a turn in its model call")
        pg.restart()
        for thread in threads:
            thread.join(300)

        assert not failures, (failures, errors, stack.logs()[-6000:])
        # The restart hit turns in flight: their writes went on on new connections.
        assert "the database connection was lost" in stack.workers.logs(tail=None)
        assert all(status == 503 for status, _ in errors), errors
        for _status, message in errors:
            assert not any(word in message for word in RAW_DRIVER_WORDS), message
        assert len(replies) == AGENTS * TURNS and {r for _a, r in replies.values()} == {"stored reply"}

        headers = {"Authorization": f"Bearer {stack.api_key}"}
        for agent_id in agent_ids:
            try:
                wait_for(
                    lambda a=agent_id: not list(letta.runs.list(agent_id=a, active=True)), 60, "the agent's runs to end"
                )
            except AssertionError:
                active = [(r.id, r.status, r.created_at) for r in letta.runs.list(agent_id=agent_id, active=True)]
                raise AssertionError(f"runs still active: {active}\n{stack.logs()[-8000:]}") from None
            history = httpx.get(
                f"{stack.web.url}/v1/agents/{agent_id}/messages", params={"limit": 1000}, headers=headers, timeout=30
            ).json()
            sent = [m["content"] for m in history if m["message_type"] == "user_message"]
            for text, (owner, _reply) in replies.items():
                if owner == agent_id:
                    assert sent.count(text) == 1, f"{text!r} stored {sent.count(text)} times"
            answered = {m["run_id"] for m in history if m["message_type"] == "assistant_message"}
            for run in letta.runs.list(agent_id=agent_id, limit=1000):
                if run.id in answered:
                    assert run.status == "completed", (run.id, run.status, run.metadata)
        # The next message runs normally.
        assert send(letta, agent_ids[0], "after the restart", []) == "stored reply"
    print(f"PostgreSQL restart under load: {len(errors)} retried 503s")


def test_a_message_sent_while_postgres_is_down_gets_a_503_and_its_retry_the_turn(pg_stack, scripted_llm):
    stack, pg = pg_stack
    scripted_llm.queue({"text": "after the outage", "repeat": 10})
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with Letta(base_url=stack.web.url, api_key=stack.api_key, max_retries=0, timeout=120) as letta:
        agent_id = letta.agents.create(name="pg-down", model="engram/scripted", embedding="local/all-minilm-l6-v2").id
        message = {"role": "user", "content": "sent-while-the-database-is-down", "otid": str(uuid.uuid4())}
        pg.stop_server()
        try:
            with pytest.raises(APIStatusError) as down:
                letta.agents.messages.create(agent_id, messages=[message])
        finally:
            pg.start()
        assert down.value.status_code == 503, down.value.message
        assert "database" in down.value.message and not any(w in down.value.message for w in RAW_DRIVER_WORDS)
        response = letta.agents.messages.create(agent_id, messages=[message])  # the client's retry
        assert [m.content for m in response.messages if m.message_type == "assistant_message"] == ["after the outage"]
        again = letta.agents.messages.create(agent_id, messages=[message])  # once more: the same turn, not a second
        assert [m.content for m in again.messages if m.message_type == "assistant_message"] == ["after the outage"]
        history = httpx.get(f"{stack.web.url}/v1/agents/{agent_id}/messages", headers=headers, timeout=30).json()
        sent = [m["content"] for m in history if m["message_type"] == "user_message"]
        assert sent.count("sent-while-the-database-is-down") == 1
