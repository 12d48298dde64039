"""Turns on real Celery workers: events over Redis to websocket and stream clients, resume, one turn at a time
per agent, cancel, and a SIGKILLed worker (`services` tests: real Redis, PostgreSQL and worker processes)."""

import threading

import pytest

from ade.events import agent_group
from agents import runs
from agents.actions import create_agent
from agents.models import Agent, Message, Run, Step
from tests.events import GroupListener


@pytest.fixture
def agent(alice, scripted_llm):
    return create_agent(
        alice,
        {
            "name": "worker-agent",
            "memory_blocks": [
                {"label": "persona", "value": "I am a helpful assistant."},
                {"label": "human", "value": ""},
            ],
        },
    )


def send(user, agent, text, **options):
    run = runs.start_turn(user, agent.id, [{"role": "user", "content": text}], options=options, background=True)
    runs.submit(run)
    return run


def in_context(agent):
    agent.refresh_from_db()
    rows = {m.id: m for m in Message.objects.filter(id__in=agent.message_ids)}
    assert set(rows) == set(agent.message_ids), "the in-context list names messages that do not exist"
    return [rows[i] for i in agent.message_ids]


def first_events(run_id, n):
    """Read n events, then drop the connection (as a browser tab that closes)."""
    stream = runs.follow(run_id, timeout=60)
    got = [next(stream) for _ in range(n)]
    stream.close()
    return got


@pytest.mark.django_db(transaction=True)
def test_a_follower_that_disconnects_resumes_with_every_event_once(org):
    agent = Agent.objects.create(organization=org, name="a", llm_config={"model": "scripted"})
    run = Run.objects.create(organization=org, agent=agent, status="running")
    resumed = threading.Event()

    def produce():
        for i in range(6):
            if i == 3:
                resumed.wait(10)
            runs.publish(run, {"message_type": "assistant_message", "content": f"part {i}"})
        runs._close(run)

    producer = threading.Thread(target=produce)
    producer.start()
    before = first_events(run.id, 3)
    resumed.set()
    after = list(runs.follow(run.id, starting_after=before[-1]["seq_id"], timeout=10))
    producer.join()
    assert [e["content"] for e in before + after] == [f"part {i}" for i in range(6)]
    assert [e["seq_id"] for e in before + after] == [1, 2, 3, 4, 5, 6]
    assert runs.events_after(run.id, 4) == after[1:]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_async_turn_runs_on_a_worker_and_reaches_websocket_and_stream_clients(
    alice, agent, scripted_llm, celery_workers
):
    watcher = GroupListener(agent_group(agent.id))  # what the agent page's websocket consumer receives
    scripted_llm.queue_text("Hello from a worker process.")
    run = send(alice, agent, "hi there")
    streamed = list(runs.follow(run.id, timeout=60))  # what an SSE client is sent
    run.refresh_from_db()
    assert run.status == "completed", (run.error, celery_workers.logs())
    assert [e["seq_id"] for e in streamed] == list(range(1, len(streamed) + 1))
    assert [e["message_type"] for e in streamed][-2:] == ["stop_reason", "usage_statistics"]
    assert any(
        e["message_type"] == "assistant_message" and e["content"] == "Hello from a worker process." for e in streamed
    )
    live = watcher.collect(lambda ev: any(e.get("type") == "run_updated" for e in ev))
    assert [e["event"] for e in live if e["type"] == "run_event"] == streamed
    assert live[-1] == {"type": "run_updated", "run_id": run.id, "status": "completed"}
    assert "agents.execute_queued" in celery_workers.logs(tail=None)
    assert [m.role for m in in_context(agent)] == ["system", "user", "assistant"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_api_sync_stream_and_async_routes_hand_turns_to_workers(alice_api, agent, scripted_llm, celery_workers):
    from tests.test_api_messages import sse_events

    def turns_received():
        return sum(
            line.endswith("received") and "agents.execute_queued" in line
            for line in celery_workers.logs(tail=None).splitlines()
        )

    def replies(events):
        return [e["content"] for _, e in events if isinstance(e, dict) and e["message_type"] == "assistant_message"]

    base = f"/v1/agents/{agent.id}/messages"
    tasks_before = turns_received()
    scripted_llm.queue_text("Sync reply.")
    sync = alice_api.post(base, {"input": "one"})
    assert sync.status_code == 200, sync.content
    assert [m["content"] for m in sync.json()["messages"] if m["message_type"] == "assistant_message"] == [
        "Sync reply."
    ]
    scripted_llm.queue_text("Streamed reply.")
    assert replies(sse_events(alice_api.post(f"{base}/stream", {"input": "two", "include_pings": False}))) == [
        "Streamed reply."
    ]
    scripted_llm.queue_text("Async reply.")
    started = alice_api.post(f"{base}/async", {"input": "three"}).json()
    resumed = sse_events(alice_api.post(f"/v1/runs/{started['id']}/stream", {"include_pings": False}))
    assert replies(resumed) == ["Async reply."]
    assert list(Run.objects.filter(agent=agent).values_list("status", flat=True)) == ["completed"] * 3
    assert turns_received() >= tasks_before + 3  # the workers ran them, not this process


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_stream_resumed_mid_turn_loses_and_repeats_nothing(alice, agent, scripted_llm, celery_workers):
    words = " ".join(f"word{i}" for i in range(40))
    scripted_llm.queue_text(words, pace_ms=25)
    run = send(alice, agent, "tell me a long story", stream_tokens=True)
    before = first_events(run.id, 5)
    after = list(runs.follow(run.id, starting_after=before[-1]["seq_id"], timeout=60))
    everything = runs.events_after(run.id)
    assert before + after == everything
    assert [e["seq_id"] for e in everything] == list(range(1, len(everything) + 1))
    deltas = [e["content"] for e in everything if e["message_type"] == "assistant_message"]
    assert "".join(deltas).split() == words.split()
    assert Run.objects.get(id=run.id).status == "completed"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_messages_to_one_agent_run_one_at_a_time_in_order_while_others_run_alongside(
    alice, agent, scripted_llm, celery_workers
):
    other = create_agent(alice, {"name": "other-agent"})
    scripted_llm.queue(*[{"text": "noted", "delay_ms": 700}] * 4)
    mine = [send(alice, agent, text) for text in ("one", "two", "three")]
    theirs = send(alice, other, "hello")
    done = [runs.wait(r.id, timeout=60) for r in mine + [theirs]]
    assert [r.status for r in done] == ["completed"] * 4, celery_workers.logs()
    first, second, third, parallel = done
    assert first.completed_at <= second.started_at and second.completed_at <= third.started_at
    assert parallel.started_at < first.completed_at  # the other agent did not wait for this one
    users = [m.text for m in in_context(agent) if m.role == "user"]
    assert users == ["one", "two", "three"]
    assert [m.role for m in in_context(agent)] == ["system"] + ["user", "assistant"] * 3


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_cancel_aborts_a_streaming_model_call_and_the_agent_goes_on(alice, agent, scripted_llm, celery_workers):
    words = " ".join(f"w{i}" for i in range(300))
    scripted_llm.queue_text(words, pace_ms=30)  # about nine seconds of tokens
    run = send(alice, agent, "talk for a long time", stream_tokens=True)
    stream = runs.follow(run.id, timeout=60)
    seen = [next(stream) for _ in range(3)]
    runs.cancel(alice, agent.id)
    seen += list(stream)
    run.refresh_from_db()
    assert (run.status, run.stop_reason) == ("cancelled", "cancelled")
    assert seen[-1]["message_type"] == "stop_reason" and seen[-1]["stop_reason"] == "cancelled"
    streamed_text = "".join(e.get("content", "") for e in seen if e["message_type"] == "assistant_message")
    assert 0 < len(streamed_text.split()) < 300  # the model call was cut off mid-stream
    assert not Message.objects.filter(run=run, role="assistant").exists()  # the partial reply was not kept
    assert not Step.objects.filter(run=run, status="pending").exists()
    scripted_llm.queue_text("Still here.")
    follow_up = runs.wait(send(alice, agent, "are you there?").id, timeout=60)
    assert follow_up.status == "completed"
    assert in_context(agent)[-1].text == "Still here."


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_a_consistent_database_and_the_agent_works_afterwards(
    alice, agent, scripted_llm, celery_workers
):
    scripted_llm.queue_tool_call("memory_insert", {"label": "human", "new_string": "Likes green tea."})
    scripted_llm.queue_text(" ".join(f"w{i}" for i in range(400)), pace_ms=50)  # step 2 streams for ~20 s
    run = send(alice, agent, "I like green tea. Now tell me a long story.", stream_tokens=True)
    stream = runs.follow(run.id, timeout=60)
    while next(stream).get("message_type") != "assistant_message":  # step 1 is committed, step 2 is streaming
        pass
    holder = runs.lease_holder(run.id)
    victim = celery_workers.name_of(int(holder.rsplit(":", 1)[1]))
    celery_workers.kill(victim)
    rest = list(stream)  # the watchdog of the surviving worker fails the run, which ends the stream
    run.refresh_from_db()
    assert (run.status, run.stop_reason, run.error) == ("failed", "error", runs.LOST_WORKER_ERROR)
    assert rest[-1] == {
        "message_type": "stop_reason",
        "stop_reason": "error",
        "seq_id": rest[-1]["seq_id"],
        "run_id": run.id,
    }
    steps = list(Step.objects.filter(run=run))
    assert [s.status for s in steps] == ["success"]  # step 1 whole, step 2 never written
    kept = Message.objects.filter(run=run).order_by("seq")
    assert [m.role for m in kept] == ["user", "assistant", "tool"]
    assert all(m.step_id == steps[0].id for m in kept if m.role != "user")
    assert "Likes green tea." in agent.blocks.get(label="human").value
    assert [m.role for m in in_context(agent)] == ["system", "user", "assistant", "tool"]
    celery_workers.start()  # back to two workers for the next tests
    scripted_llm.queue_text("Welcome back.")
    after = runs.wait(send(alice, agent, "hello again").id, timeout=60)
    assert after.status == "completed", celery_workers.logs()
    assert in_context(agent)[-1].text == "Welcome back."


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("socket_sessions_ended")
async def test_a_turn_on_a_worker_streams_to_the_agent_page_websocket(alice, agent, scripted_llm, celery_workers):
    from channels.db import database_sync_to_async

    from tests.test_page_live import connect

    page, connected, _ = await connect(agent.id, alice)  # the real consumer, authenticated by session
    assert connected
    scripted_llm.queue_text("Streaming from a worker process to your page.", pace_ms=10)
    run = await database_sync_to_async(send)(alice, agent, "hello", stream_tokens=True)
    frames = []
    while not any(f'id="turn-{run.id}" hx-swap-oob="true"' in f for f in frames):  # the final render of the turn
        frames.append(await page.receive_from(timeout=30))
    await page.disconnect()
    pieces = [f for f in frames if "beforeend:#m-" in f]
    assert len(pieces) >= 3  # tokens arrived one by one, from the worker, over Redis
    assert "Streaming from a worker process to your page." in frames[-1]
    assert await database_sync_to_async(lambda: Run.objects.get(id=run.id).status)() == "completed"
