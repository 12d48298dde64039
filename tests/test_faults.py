"""Faults on the production shape (tests/faultkit.py: own Redis with AOF, prefork workers with concurrency 2,
daphne over HTTP, the SDK as the client). After each fault the invariants of `assert_invariants` hold: what the
client was told succeeded is stored once, what it was told failed is absent or visibly failed and never runs
later, no run stays queued or running, memory changes have their step, and the next message runs normally."""

import signal
import threading
import time
import uuid

import httpx
import pytest
from letta_client import APIStatusError, Letta

from agents.models import Block, Message, Run, Step
from tests.faultkit import LEASE_SECONDS, QUEUE_STALE_SECONDS, Stack, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

SETTLE_SECONDS = 60  # generous: a loaded 2-core machine; every wait polls and ends as soon as it may


@pytest.fixture(scope="module")
def stack(django_db_setup, scripted_llm_server, tmp_path_factory):
    from django.db import connections

    connections.close_all()
    running = Stack(tmp_path_factory.mktemp("faults")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def letta(stack, alice_key, scripted_llm):
    with Letta(base_url=stack.web.url, api_key=alice_key, max_retries=0, timeout=60) as client:
        yield client


@pytest.fixture
def agent(letta):
    return letta.agents.create(
        name=f"faults-{uuid.uuid4().hex[:6]}",
        model="engram/scripted",
        embedding="local/all-minilm-l6-v2",
        memory_blocks=[
            {"label": "human", "value": "Name: unknown"},
            {"label": "persona", "value": "I am a helpful assistant."},
        ],
    )


def user_texts(agent_id: str) -> list[str]:
    texts = []
    for message in Message.objects.filter(agent_id=agent_id, role="user"):
        texts.extend(part.get("text", "") for part in message.content if isinstance(part, dict))
    return texts


def stored(agent_id: str, text: str) -> int:
    return sum(text in t for t in user_texts(agent_id))


def assert_invariants(letta, agent_id: str, *, succeeded=(), failed=()) -> None:
    """The issue's invariants after a fault, ending with a normal turn."""
    wait_for(
        lambda: not Run.objects.filter(agent_id=agent_id, status__in=("created", "running")).exists(),
        SETTLE_SECONDS,
        "every run of the agent to end",
    )
    for text in succeeded:
        assert stored(agent_id, text) == 1, f"{text!r} should be stored exactly once"
    for text in failed:
        runs = [r for r in Run.objects.filter(agent_id=agent_id) if any(text in str(m) for m in r.input)]
        assert stored(agent_id, text) == 0 or all(r.status == "failed" for r in runs), f"{text!r} ran after failing"
    for block in Block.objects.filter(agents__id=agent_id, version__gt=1):
        assert Step.objects.filter(agent_id=agent_id).exists(), f"block {block.label} changed without a step"
    marker = f"next-{uuid.uuid4().hex[:6]}"
    response = letta.agents.messages.create(agent_id, messages=[{"role": "user", "content": marker}])
    assert any(m.message_type == "assistant_message" for m in response.messages)
    assert stored(agent_id, marker) == 1


def test_redis_outage_answers_503_fails_the_run_and_it_never_runs_later(stack, letta, agent, scripted_llm):
    stack.redis.stop()
    try:
        with pytest.raises(APIStatusError) as blocking:
            letta.agents.messages.create(agent.id, messages=[{"role": "user", "content": "sent-while-down-1"}])
        with pytest.raises(APIStatusError) as background:
            letta.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "sent-while-down-2"}])
    finally:
        stack.redis.start()
    for raised in (blocking.value, background.value):
        assert raised.status_code == 503 and "task queue" in raised.message
    down = Run.objects.filter(agent_id=agent.id)
    assert [r.status for r in down] == ["failed", "failed"] and all("Redis" in r.metadata["error"] for r in down)

    # Both workers lived through the restart (kombu reconnects) and take the next message.
    assert len(stack.workers.alive()) == 2, stack.workers.logs()
    assert_invariants(letta, agent.id, failed=["sent-while-down-1", "sent-while-down-2"])
    time.sleep(QUEUE_STALE_SECONDS + 2)  # past the sweeper's threshold: the failed turns stay failed
    assert stored(agent.id, "sent-while-down") == 0
    assert Run.objects.filter(agent_id=agent.id, status="failed").count() == 2


def test_a_file_uploaded_while_redis_is_down_fails_at_once_and_its_retry_ingests_it(stack, letta, alice_key):
    """The upload is stored, its ingestion cannot be enqueued: the file is failed at once with an error naming the
    task queue (it used to wait `pending` forever, and the upload answered 500), and a retry ingests it."""
    folder = letta.folders.create(name=f"down-{uuid.uuid4().hex[:6]}", embedding="engram/scripted-embed")
    stack.redis.stop()
    try:
        file = letta.folders.files.upload(folder.id, file=("notes.md", b"# Notes\n\nThe kettle is blue.\n"))
    finally:
        stack.redis.start()
    failed = letta.folders.files.retrieve(file.id, folder_id=folder.id)
    assert failed.processing_status == "error" and "task queue" in failed.error_message, failed
    retried = httpx.post(  # an Engram route: the SDK has no retry
        f"{stack.web.url}/v1/folders/{folder.id}/files/{file.id}/retry",
        headers={"Authorization": f"Bearer {alice_key}"},
        timeout=30,
    )
    assert retried.status_code == 200, retried.text
    wait_for(
        lambda: letta.folders.files.retrieve(file.id, folder_id=folder.id).processing_status == "completed",
        SETTLE_SECONDS,
        "the retried file to be ingested",
    )


def test_redis_stopped_during_a_turn_fails_it_with_an_error_naming_redis(stack, letta, agent, scripted_llm):
    """The turn cannot publish its events: it stops with stop reason `error` and an error that names Redis (not
    `llm_api_error`), the lease warning is logged once, and the agent runs normally once Redis is back."""
    scripted_llm.queue({"text": "nobody hears this", "delay_ms": 3_000})
    run = letta.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "redis-dies-mid-turn"}])
    wait_for(lambda: stack.lease_holder_pid(run.id), SETTLE_SECONDS, "the turn to start")
    stack.redis.stop()
    try:
        failed = wait_for(
            lambda: Run.objects.filter(id=run.id, status="failed").first(), SETTLE_SECONDS, "the run to fail"
        )
    finally:
        stack.redis.start()
    assert failed.stop_reason == "error" and "Redis" in failed.error, (failed.stop_reason, failed.error)
    assert "Redis" in letta.runs.retrieve(run.id).metadata["error"]
    assert stack.workers.logs(tail=None).count(f"could not renew the lease of run {run.id}") <= 1
    assert_invariants(letta, agent.id)


def test_a_queued_run_whose_task_was_lost_is_enqueued_again(stack, letta, agent, alice):
    """A broker that lost its data (no AOF, a failover): the run is in the database, its task is not."""
    from datetime import timedelta

    from django.utils import timezone

    lost = Run.objects.create(
        organization_id=alice.organization_id,
        agent_id=agent.id,
        input=[{"role": "user", "content": "task-lost"}],
        created_by=alice,
        created_at=timezone.now() - timedelta(seconds=QUEUE_STALE_SECONDS + 1),
    )
    wait_for(lambda: Run.objects.get(id=lost.id).status == "completed", SETTLE_SECONDS, "the lost run to complete")
    assert Run.objects.get(id=lost.id).metadata["requeued"] >= 1
    assert_invariants(letta, agent.id, succeeded=["task-lost"])


def kill_executing_worker(stack, run_id: str) -> None:
    pid = wait_for(lambda: stack.lease_holder_pid(run_id), SETTLE_SECONDS, "the run's lease")
    import os

    os.kill(pid, signal.SIGKILL)


def test_worker_killed_before_the_model_answers(stack, letta, agent, scripted_llm):
    scripted_llm.queue({"text": "too late", "delay_ms": 15_000})
    run = letta.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "killed-early"}])
    kill_executing_worker(stack, run.id)
    scripted_llm.reset()
    failed = wait_for(
        lambda: Run.objects.filter(id=run.id, status="failed").first(), 30 + 4 * LEASE_SECONDS, "the run to fail"
    )
    assert "stopped before finishing" in failed.error
    assert "stopped before finishing" in letta.runs.retrieve(run.id).metadata["error"]  # told to clients
    # The client was told the turn was accepted: its message is stored once, on a visibly failed run.
    assert stored(agent.id, "killed-early") <= 1
    assert_invariants(letta, agent.id)


def test_worker_killed_after_a_memory_edit(stack, letta, agent, scripted_llm):
    scripted_llm.queue(
        {
            "tool_calls": [
                {
                    "name": "memory_replace",
                    "arguments": {"label": "persona", "old_string": "helpful", "new_string": "careful"},
                }
            ]
        },
        {"text": "too late", "delay_ms": 15_000},
    )
    run = letta.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "edit-then-die"}])
    # Killed once the edit's step is written, while the next model call waits.
    wait_for(
        lambda: (
            "careful" in Block.objects.get(agents__id=agent.id, label="persona").value
            and Step.objects.filter(run_id=run.id).exists()
        ),
        SETTLE_SECONDS,
        "the memory edit and its step",
    )
    kill_executing_worker(stack, run.id)
    scripted_llm.reset()
    wait_for(lambda: Run.objects.filter(id=run.id, status="failed").exists(), SETTLE_SECONDS, "the run to fail")
    # The edit's step and the user's message are recorded: the change has its explanation.
    edit_steps = Step.objects.filter(run_id=run.id)
    assert edit_steps.exists()
    assert stored(agent.id, "edit-then-die") == 1
    assert_invariants(letta, agent.id)


SLOW_TOOL = '''
def slow_lookup(topic: str) -> str:
    """Look a topic up, slowly.

    Args:
        topic: What to look up.
    """
    import time

    time.sleep(8)
    return "found " + topic
'''


def test_worker_killed_during_a_tool_after_a_memory_edit_of_the_same_step(stack, letta, scripted_llm):
    """One model answer calls memory_replace and then a slow custom tool (sandboxed): the worker dies while the
    custom tool runs, after the edit committed. The edit is explained: its step (with the model's calls in its
    trace) and the user's message are recorded, and the step is visibly failed with its run."""
    import json

    letta.tools.upsert(source_code=SLOW_TOOL)
    agent = letta.agents.create(
        name=f"faults-tool-{uuid.uuid4().hex[:6]}",
        model="engram/scripted",
        embedding="local/all-minilm-l6-v2",
        parallel_tool_calls=True,
        tools=["slow_lookup"],
        memory_blocks=[{"label": "persona", "value": "I am a helpful assistant."}],
    )
    scripted_llm.queue(
        {
            "tool_calls": [
                {
                    "name": "memory_replace",
                    "arguments": {"label": "persona", "old_string": "helpful", "new_string": "careful"},
                },
                {"name": "slow_lookup", "arguments": {"topic": "kites"}},
            ]
        },
        {"text": "too late"},
    )
    run = letta.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "edit-during-tool"}])
    persona = lambda: Block.objects.get(agents__id=agent.id, label="persona")  # noqa: E731
    wait_for(lambda: "careful" in persona().value, SETTLE_SECONDS, "the memory edit")
    assert Run.objects.get(id=run.id).status == "running"  # the slow tool runs (8 s)
    kill_executing_worker(stack, run.id)
    scripted_llm.reset()
    wait_for(lambda: Run.objects.filter(id=run.id, status="failed").exists(), SETTLE_SECONDS, "the run to fail")

    steps = list(Step.objects.filter(run_id=run.id))
    assert [s.status for s in steps] == ["failed"]
    assert "memory_replace" in json.dumps(steps[0].trace) and "slow_lookup" in json.dumps(steps[0].trace)
    inputs = Message.objects.filter(run_id=run.id, role="user")
    assert inputs.count() == 1 and stored(agent.id, "edit-during-tool") == 1
    assert persona().version == 2
    assert_invariants(letta, agent.id)


def test_worker_killed_between_the_last_step_and_the_finish(stack, letta, agent, scripted_llm):
    """The reply is committed, the run not yet marked completed (the test-only hold in Records.finish): the
    watchdog fails the run, the reply stays stored once with its step, and the agent goes on."""
    hold = stack.hold_finish_file
    hold.touch()
    try:
        scripted_llm.queue({"text": "said before dying"})
        run = letta.agents.messages.create_async(agent.id, messages=[{"role": "user", "content": "die-at-finish"}])
        wait_for(lambda: Message.objects.filter(run_id=run.id, role="assistant").exists(), SETTLE_SECONDS, "the reply")
        assert Run.objects.get(id=run.id).status == "running"
        kill_executing_worker(stack, run.id)
    finally:
        hold.unlink()
    failed = wait_for(lambda: Run.objects.filter(id=run.id, status="failed").first(), SETTLE_SECONDS, "the failure")
    assert "stopped before finishing" in failed.error
    assert [s.status for s in Step.objects.filter(run_id=run.id)] == ["success"]
    assert stored(agent.id, "die-at-finish") == 1
    assert Message.objects.filter(run_id=run.id, role="assistant").count() == 1
    assert_invariants(letta, agent.id)


def test_sdk_retries_of_a_slow_turn_run_it_once(stack, alice_key, agent, scripted_llm):
    """The SDK's timeout (2 s) is shorter than the turn (5 s): it retries the POST, with the same otid."""
    scripted_llm.queue({"text": "slow but once", "delay_ms": 5_000})
    otid = str(uuid.uuid4())
    with Letta(base_url=stack.web.url, api_key=alice_key, max_retries=4, timeout=2) as impatient:
        try:
            impatient.agents.messages.create(
                agent.id, messages=[{"role": "user", "content": "retried-turn", "otid": otid}]
            )
        except Exception:  # it may still give up: the invariant is about the server
            pass
    wait_for(lambda: stored(agent.id, "retried-turn"), SETTLE_SECONDS, "the turn to be stored")
    assert Run.objects.filter(agent_id=agent.id).count() == 1
    with Letta(base_url=stack.web.url, api_key=alice_key, max_retries=0, timeout=60) as letta:
        assert_invariants(letta, agent.id, succeeded=["retried-turn"])


def test_idempotency_key_gives_the_same_run_back(stack, alice_key, agent):
    url = f"{stack.web.url}/v1/agents/{agent.id}/messages/async"
    headers = {"Authorization": f"Bearer {alice_key}", "Idempotency-Key": str(uuid.uuid4())}
    body = {"messages": [{"role": "user", "content": "keyed-turn"}]}
    first = httpx.post(url, json=body, headers=headers, timeout=30).json()
    again = httpx.post(url, json=body, headers=headers, timeout=30).json()
    assert first["id"] == again["id"]
    other = httpx.post(url, json=body, headers={**headers, "Idempotency-Key": "another"}, timeout=30).json()
    assert other["id"] != first["id"]
    with Letta(base_url=stack.web.url, api_key=alice_key, max_retries=0, timeout=60) as letta:
        wait_for(
            lambda: not Run.objects.filter(agent_id=agent.id, status__in=("created", "running")).exists(),
            SETTLE_SECONDS,
            "both turns to end",
        )
        assert stored(agent.id, "keyed-turn") == 2  # the two distinct keys, each once
        assert_invariants(letta, agent.id)


def test_a_hundred_streams_hold_no_database_connection(stack, alice_key, agent, scripted_llm, tmp_path):
    """100 SSE followers of a slow turn on a web process whose pool has 5 connections: all get the whole turn,
    and health and the agents list answer meanwhile (each stream would otherwise hold a connection)."""
    import concurrent.futures

    from tests.faultkit import Web

    web = Web(tmp_path, {**stack.env, "DATABASE_POOL_SIZE": "5"})
    web.start()
    try:
        scripted_llm.queue({"text": "worth the wait", "delay_ms": 8_000})
        headers = {"Authorization": f"Bearer {alice_key}"}
        run_id = httpx.post(
            f"{web.url}/v1/agents/{agent.id}/messages/async",
            json={"messages": [{"role": "user", "content": "watched by many"}]},
            headers=headers,
            timeout=30,
        ).json()["id"]

        def follow(_):
            with httpx.stream(
                "POST", f"{web.url}/v1/runs/{run_id}/stream", json={}, headers=headers, timeout=120
            ) as response:
                body = "".join(response.iter_text())
            return response.status_code, body

        def answer_time(path):
            started = time.monotonic()
            assert httpx.get(f"{web.url}{path}", headers=headers, timeout=60).status_code == 200
            return time.monotonic() - started

        with concurrent.futures.ThreadPoolExecutor(100) as pool:
            streams = [pool.submit(follow, i) for i in range(100)]
            wait_for(lambda: Run.objects.get(id=run_id).status != "created", 2 * SETTLE_SECONDS, "the turn to start")
            time.sleep(1)  # the streams are open and waiting (the model answers after 8 s)
            for path in ("/v1/health/", "/v1/agents/?limit=1"):
                assert min(answer_time(path) for _ in range(3)) < 1.0, path
            results = [s.result(timeout=120) for s in streams]
        assert all(status == 200 for status, _ in results), {status for status, _ in results}
        short = [body[-600:] for _, body in results if "worth the wait" not in body or "[DONE]" not in body]
        assert not short, f"{len(short)} streams fell short, e.g. {short[0]}\n{web.log()[-3000:]}"
        assert "PoolTimeout" not in web.log()
    finally:
        web.stop(timeout=5)


def test_redis_restarted_three_times_during_a_load(stack, letta, alice_key, scripted_llm):
    """Three users each send messages one after another (blocking `create`, retried with the same otid while the
    server answers 503 during the wait) while Redis stops and starts three times (kombu has crashed workers on such
    a restart, #11 item 5): both workers live through it, every message a user was told succeeded is stored once,
    every refused one is absent or on a failed run, and each agent goes on."""

    agents = [
        letta.agents.create(name=f"load-{i}-{uuid.uuid4().hex[:6]}", model="engram/scripted", memory_blocks=[])
        for i in range(3)
    ]
    scripted_llm.queue({"text": "Noted.", "delay_ms": 300, "repeat": 10_000})
    told: dict[str, dict[str, bool]] = {a.id: {} for a in agents}
    errors: list[str] = []  # what the users met during the outages
    done = threading.Event()

    def send(client, agent_id: str, text: str) -> bool:
        """As a client should: a 503 while waiting means "ask again with the same otid" (the turn may be running);
        a refused enqueue (503, the run failed at once) or any other error status (the turn failed) is final."""
        message = {"role": "user", "content": text, "otid": str(uuid.uuid4())}
        for _ in range(30):
            try:
                reply = client.agents.messages.create(agent_id, messages=[message])
                return any(m.message_type == "assistant_message" for m in reply.messages)
            except APIStatusError as exc:
                errors.append(f"{exc.status_code}: {exc.message}")
                if exc.status_code != 503 or "task queue" in exc.message:
                    return False
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
            time.sleep(1)
        return False

    def user(agent_id: str) -> None:
        with Letta(base_url=stack.web.url, api_key=alice_key, max_retries=0, timeout=60) as client:
            n = 0
            while not done.is_set():
                text = f"load-{n}-{agent_id}."  # no text is a prefix of another
                n += 1
                told[agent_id][text] = send(client, agent_id, text)

    users = [threading.Thread(target=user, args=(a.id,)) for a in agents]
    for thread in users:
        thread.start()
    try:
        for _ in range(3):
            time.sleep(4)
            stack.redis.stop()
            time.sleep(3)
            stack.redis.start()
        time.sleep(4)
    finally:
        done.set()
        for thread in users:
            thread.join(90)
    assert len(stack.workers.alive()) == 2, stack.workers.logs()
    assert "Unrecoverable error" not in stack.workers.logs(tail=None)
    assert sum(ok for outcome in told.values() for ok in outcome.values()) >= 6, told  # the load did run
    assert errors, "no message met an outage"
    assert not [e for e in errors if "unknown error" in e], errors  # an outage is a 503 to retry, never a bare 500
    scripted_llm.reset()
    for a in agents:
        assert_invariants(
            letta,
            a.id,
            succeeded=[t for t, ok in told[a.id].items() if ok],
            failed=[t for t, ok in told[a.id].items() if not ok],
        )


def test_prefork_workers_keep_their_connection_pool(stack):
    """Run last in this module: after every fault above, no worker's pool was closed under its watchdog."""
    logs = stack.workers.logs(tail=None)
    assert "PoolClosed" not in logs, logs[-3000:]


def _seq_ids(body: str) -> list[int]:
    import json

    ids = []
    for line in body.splitlines():
        if line.startswith("data: {"):
            seq = json.loads(line[6:]).get("seq_id")
            if seq is not None and json.loads(line[6:]).get("message_type") != "ping":
                ids.append(seq)
    return ids


def test_web_sigterm_ends_streams_at_once_and_they_resume_on_another_web(
    stack, alice_key, agent, scripted_llm, tmp_path
):

    from tests.faultkit import Web

    web = Web(tmp_path, stack.env)
    web.start()
    scripted_llm.queue({"text": "finished elsewhere", "delay_ms": 6_000})
    headers = {"Authorization": f"Bearer {alice_key}"}
    run_id = httpx.post(
        f"{web.url}/v1/agents/{agent.id}/messages/async",
        json={"messages": [{"role": "user", "content": "outlives its web"}]},
        headers=headers,
        timeout=30,
    ).json()["id"]
    first = {}

    def follow():
        try:
            with httpx.stream("POST", f"{web.url}/v1/runs/{run_id}/stream", json={}, headers=headers, timeout=60) as r:
                first["body"] = "".join(r.iter_text())
        except httpx.HTTPError as exc:  # the connection closed under it: what was read so far counts
            first.setdefault("body", "")
            first["error"] = exc

    reader = threading.Thread(target=follow)
    reader.start()
    wait_for(lambda: Run.objects.get(id=run_id).status != "created", 2 * SETTLE_SECONDS, "the turn to start")
    time.sleep(0.5)  # the stream is open and waiting (the model answers after 6 s)
    stopping = time.monotonic()
    web.stop(timeout=30)
    stopped_in = time.monotonic() - stopping
    reader.join(30)
    assert stopped_in < 8, f"the web process took {stopped_in:.1f} s to exit (compose waits 10 s)"
    assert "[DONE]" not in first.get("body", ""), "the stream must end unfinished, so that the client resumes"
    before = _seq_ids(first.get("body", ""))
    resumed = httpx.post(
        f"{stack.web.url}/v1/runs/{run_id}/stream",
        json={"starting_after": max(before, default=0)},
        headers=headers,
        timeout=60,
    ).text
    after = _seq_ids(resumed)
    assert "finished elsewhere" in resumed and "[DONE]" in resumed
    assert len(before + after) == len(set(before + after)), "an event came twice"
    assert Run.objects.get(id=run_id).status == "completed"


def test_web_sigterm_during_an_in_process_turn_lets_it_finish_and_exits_cleanly(
    stack, alice_key, agent, scripted_llm, tmp_path
):
    """The embedded shape (no Redis: turns run in the web process). The turn in flight ends and is stored before
    the process exits, with status 0: it used to end with a segfault in the interpreter's finalization."""
    from tests.faultkit import Web

    web = Web(tmp_path, {k: v for k, v in stack.env.items() if k not in ("REDIS_URL", "CELERY_EAGER")})
    web.start()
    scripted_llm.queue({"text": "finished before the exit", "delay_ms": 3_000})

    def send():
        try:
            httpx.post(
                f"{web.url}/v1/agents/{agent.id}/messages",
                json={"messages": [{"role": "user", "content": "in flight at the stop"}]},
                headers={"Authorization": f"Bearer {alice_key}"},
                timeout=60,
            )
        except httpx.HTTPError:  # daphne drops the connection as it stops; a client retries with its otid
            pass

    sending = threading.Thread(target=send)
    sending.start()
    try:
        wait_for(lambda: Run.objects.filter(agent_id=agent.id, status="running").exists(), SETTLE_SECONDS, "the turn")
        web.proc.send_signal(signal.SIGTERM)
        assert web.proc.wait(timeout=60) == 0, web.log()[-3000:]
    finally:
        web.stop()
        sending.join(60)
    run = Run.objects.get(agent_id=agent.id)
    assert run.status == "completed"
    assert stored(agent.id, "in flight at the stop") == 1
    assert Message.objects.filter(run=run, role="assistant").count() == 1
