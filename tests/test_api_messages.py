"""/v1 messages and runs against the scripted model over real HTTP: sync replies, SSE streams (framing, pings,
stop reason, usage, [DONE], tokens), async runs, listing with cursors, edits, reset, cancel, stream resume."""

import json

import pytest

from agents.models import Message, Run

ROLL = 'def roll_dice(sides: int) -> str:\n    """Roll a die.\n\n    Args:\n        sides: Sides.\n    """\n    return str(sides)\n'
PROVIDER_REFUSAL = {
    "status": 400,
    "message": "The provider refused the request",
    "code": "bad_request",
    "type": "invalid_request_error",
}  # not retried, so the turn fails at once


def create_agent(api, **body):
    r = api.post("/v1/agents/", {"name": "helper", "memory_blocks": [{"label": "human", "value": "Name: ?"}], **body})
    assert r.status_code == 200, r.content
    return r.json()


def sse_events(response) -> list:
    """Parse an SSE body into [(event name or None, data)], checking the framing as the SDK reads it."""
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response).decode()
    assert body.endswith("data: [DONE]\n\n")
    out = []
    for frame in body.split("\n\n")[:-1]:
        lines = frame.split("\n")
        name = lines[0][len("event: ") :] if lines[0].startswith("event: ") else None
        data = [ln[len("data: ") :] for ln in lines if ln.startswith("data: ")]
        assert len(data) == 1, frame
        out.append((name, data[0] if data[0] == "[DONE]" else json.loads(data[0])))
    return out


def test_send_message_returns_reply_and_records_run(alice_api, scripted_llm):
    agent = create_agent(alice_api)
    scripted_llm.queue_text("Hello Ada, nice to meet you.")
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"messages": [{"role": "user", "content": "Hi, I'm Ada"}]})
    assert r.status_code == 200, r.content
    reply = r.json()
    assert [m["message_type"] for m in reply["messages"]] == ["assistant_message"]
    assert reply["messages"][0]["content"] == "Hello Ada, nice to meet you."
    assert reply["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "end_turn"}
    assert reply["usage"]["message_type"] == "usage_statistics" and reply["usage"]["step_count"] == 1
    run_id = reply["messages"][0]["run_id"]
    run = Run.objects.get(id=run_id)
    assert run.status == "completed" and run.stop_reason == "end_turn"
    assert "Hi, I'm Ada" in json.dumps(scripted_llm.last_request()["messages"])

    listed = alice_api.get(f"/v1/agents/{agent['id']}/messages").json()
    assert [m["message_type"] for m in listed[:2]] == ["assistant_message", "user_message"]  # newest first
    assert listed[1]["content"] == "Hi, I'm Ada"
    run_messages = alice_api.get(f"/v1/runs/{run_id}/messages").json()
    assert [m["message_type"] for m in run_messages] == ["user_message", "assistant_message"]
    assert alice_api.get(f"/v1/runs/{run_id}").json()["status"] == "completed"
    steps = alice_api.get(f"/v1/runs/{run_id}/steps").json()
    assert len(steps) == 1 and steps[0]["status"] == "success"
    usage = alice_api.get(f"/v1/runs/{run_id}/usage").json()
    assert usage["total_tokens"] == reply["usage"]["total_tokens"] > 0


def test_input_shorthand_and_return_type_filter(alice_api, scripted_llm):
    agent = create_agent(alice_api)
    scripted_llm.queue(
        {
            "tool_calls": [
                {
                    "name": "memory_replace",
                    "arguments": {"label": "human", "old_string": "Name: ?", "new_string": "Name: Ada"},
                }
            ]
        },
        {"text": "Noted."},
    )
    r = alice_api.post(
        f"/v1/agents/{agent['id']}/messages",
        {"input": "My name is Ada", "include_return_message_types": ["tool_call_message", "assistant_message"]},
    )
    assert [m["message_type"] for m in r.json()["messages"]] == ["tool_call_message", "assistant_message"]
    assert alice_api.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human").json()["value"] == "Name: Ada"


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({}, 422, "exactly one"),
        ({"input": "hi", "messages": [{"role": "user", "content": "hi"}]}, 422, "exactly one"),
        ({"messages": []}, 422, "empty"),
        ({"input": "hi", "stream_tokens": True}, 422, "streaming"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, 422, "role"),
        ({"input": "hi", "max_steps": 0}, 422, "max_steps"),
        ({"input": "hi", "override_model": "openai/gpt-4o"}, 400, "override_model"),
        ({"messages": [{"type": "approval", "approve": True}]}, 400, "No tool call is currently awaiting approval"),
    ],
)
def test_bad_message_input_is_4xx_and_starts_nothing(alice_api, scripted_llm, body, status, word):
    agent = create_agent(alice_api)
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", body)
    assert r.status_code == status, r.content
    assert word in r.json()["detail"]
    assert not Run.objects.exists() and scripted_llm.requests() == []


def test_model_failure_is_an_error_status_not_a_reply(alice_api, scripted_llm):
    agent = create_agent(alice_api)
    scripted_llm.queue_error(PROVIDER_REFUSAL)
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"})
    assert r.status_code == 502 and "refused" in r.json()["detail"] and r["x-should-retry"] == "false"
    assert Run.objects.get().status == "failed"


@pytest.mark.parametrize("route", ["agent", "conversation"])
def test_a_retry_of_an_ended_turn_answers_from_its_run_without_waiting_for_its_events(
    alice_api, scripted_llm, monkeypatch, route
):
    """A turn whose event log was never closed (Redis went away as it ended) is still answered at once when the
    client retries it: its row is final. Waiting on the log took ~10 s per retry (the follower's grace)."""
    from agents import runs

    agent = create_agent(alice_api)
    url = f"/v1/agents/{agent['id']}/messages"
    if route == "conversation":
        conv = alice_api.post(f"/v1/conversations/?agent_id={agent['id']}", {})
        assert conv.status_code == 200, conv.content
        url = f"/v1/conversations/{conv.json()['id']}/messages"
    scripted_llm.queue_text("Hello.")
    scripted_llm.queue_error(PROVIDER_REFUSAL)
    first = {"messages": [{"role": "user", "content": "hi", "otid": "otid-first"}], "streaming": False}
    failed = {"messages": [{"role": "user", "content": "again", "otid": "otid-failed"}], "streaming": False}
    ok, refused = alice_api.post(url, first), alice_api.post(url, failed)
    assert ok.status_code == 200 and refused.status_code == 502, (ok.content, refused.content)

    def no_waiting(run_id, timeout=None):
        raise AssertionError(f"waited on the event log of the ended run {run_id}")

    monkeypatch.setattr(runs, "wait", no_waiting)
    assert alice_api.post(url, first).json() == ok.json()
    again = alice_api.post(url, failed)
    assert again.status_code == 502 and again.json()["detail"] == refused.json()["detail"]
    assert Run.objects.count() == 2 and len(scripted_llm.requests()) == 2


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_event_log_is_a_503_to_retry_and_a_stream_to_resume(alice_api, scripted_llm, monkeypatch):
    """Redis (the event log) out of reach while a client follows a turn: a waiting client gets 503 (its retry with
    the same otid gets the turn), a stream ends with an error event and without [DONE] (to be resumed). It was a
    500 "An unknown error occurred", and the stream claimed the run had failed."""
    from agents.run_events import event_log
    from agents.run_streams import EVENTS_UNREADABLE

    agent = create_agent(alice_api)
    url = f"/v1/agents/{agent['id']}/messages"
    scripted_llm.queue_text("Hello.")
    scripted_llm.queue_text("Hello again.")
    run_id = sse_events(alice_api.post(url, {"input": "hi", "streaming": True}))[0][1]["run_id"]
    store = type(event_log())  # the in-process log, or Redis's with REDIS_URL
    readable = store.read

    def unreadable(self, run_id, after, block=0):
        if block:
            raise OSError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return readable(self, run_id, after, block)

    monkeypatch.setattr(store, "read", unreadable)
    resumed = b"".join(alice_api.post(f"/v1/runs/{run_id}/stream", {"include_pings": False})).decode()
    assert "[DONE]" not in resumed and "Connection refused" not in resumed, resumed
    assert resumed.startswith("event: error\n") and resumed.count("\n\n") == 1, resumed
    error = json.loads(resumed.split("data: ", 1)[1])
    assert error["error_type"] == "service_unavailable" and error["message"] == EVENTS_UNREADABLE

    message = {"messages": [{"role": "user", "content": "again", "otid": "otid-again"}]}
    refused = alice_api.post(url, message)
    assert refused.status_code == 503 and refused.json()["detail"] == EVENTS_UNREADABLE, refused.content
    monkeypatch.setattr(store, "read", readable)
    retried = alice_api.post(url, message)
    assert retried.status_code == 200 and retried.json()["messages"][-1]["content"] == "Hello again."
    assert Run.objects.count() == 2

    def down(self, run_id, after, block=0):
        raise OSError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(store, "read", down)  # a resume that cannot even check what is kept
    r = alice_api.post(f"/v1/runs/{run_id}/stream", {"include_pings": False})
    assert r.status_code == 503 and r.json()["detail"] == EVENTS_UNREADABLE, r.content


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lost", ["database", "other"])
def test_a_stream_whose_following_fails_ends_resumably_without_claiming_the_run_failed(
    alice_api, scripted_llm, monkeypatch, lost
):
    """The database lost (or any other error) while relaying a run: the stream ends with an error event saying so
    in plain words and without [DONE]; the run's status is not touched. It used to say the run had failed, with the
    driver's text (hosts, ports)."""
    import psycopg
    from django.db import OperationalError

    from ade.dbretry import DATABASE_LOST
    from agents import runs
    from agents.api.messages import RELAY_FAILED

    agent = create_agent(alice_api)
    scripted_llm.queue_text("Hello.")
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi", "streaming": True})
    run_id = sse_events(r)[0][1]["run_id"]

    def following_fails(run_id, starting_after=0, **_):
        if lost == "database":
            raise OperationalError("connection to server at 10.0.0.7, port 5432 failed") from psycopg.OperationalError()
        raise KeyError("internal detail")
        yield  # a generator, as follow is

    monkeypatch.setattr(runs, "follow", following_fails)
    body = b"".join(alice_api.post(f"/v1/runs/{run_id}/stream", {"include_pings": False})).decode()
    assert "[DONE]" not in body and "10.0.0.7" not in body and "internal detail" not in body, body
    error = json.loads(body.split("data: ", 1)[1])
    assert error["error_type"] == "service_unavailable"
    assert error["message"] == (DATABASE_LOST if lost == "database" else RELAY_FAILED)
    assert Run.objects.get(id=run_id).status == "completed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", ["messages", "messages/stream"])
def test_stream_framing(alice_api, scripted_llm, route):
    agent = create_agent(alice_api)
    scripted_llm.queue(
        {"tool_calls": [{"name": "conversation_search", "arguments": {"query": "Ada"}}], "reasoning": "Let me look."},
        {"text": "I found nothing."},
    )
    r = alice_api.post(f"/v1/agents/{agent['id']}/{route}", {"input": "Do you know me?", "streaming": True})
    assert r.status_code == 200 and r["Cache-Control"] == "no-cache"
    events = sse_events(r)
    kinds = [e["message_type"] if isinstance(e, dict) else e for _, e in events]
    assert kinds[0] == "ping" and events[0][1]["id"].startswith("ping-")
    assert kinds[1:] == [
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
        "stop_reason",
        "usage_statistics",
        "[DONE]",
    ]
    run_id = events[0][1]["run_id"]
    seqs = [e["seq_id"] for _, e in events[1:-1]]
    assert seqs == list(range(1, len(seqs) + 1)) and all(e["run_id"] == run_id for _, e in events[1:-1])
    assert all(name is None for name, _ in events)
    assert events[-2][1]["step_count"] == 2

    # resume: everything after seq 3, from the stored log
    replay = sse_events(alice_api.post(f"/v1/runs/{run_id}/stream", {"starting_after": 3, "include_pings": False}))
    assert [e["seq_id"] for _, e in replay[:-1]] == seqs[3:]


@pytest.mark.django_db(transaction=True)
def test_token_streaming_sends_deltas_sharing_an_id(alice_api, scripted_llm):
    agent = create_agent(alice_api)
    scripted_llm.queue_text("one two three four five six")
    r = alice_api.post(
        f"/v1/agents/{agent['id']}/messages/stream", {"input": "count", "stream_tokens": True, "include_pings": False}
    )
    events = [e for _, e in sse_events(r)[:-1]]
    chunks = [e for e in events if e["message_type"] == "assistant_message"]
    assert len(chunks) > 1 and len({c["id"] for c in chunks}) == 1 and len({c["otid"] for c in chunks}) == 1
    assert "".join(c["content"] for c in chunks) == "one two three four five six"
    assert events[-2:][0]["message_type"] == "stop_reason"


@pytest.mark.django_db(transaction=True)
def test_stream_error_is_an_error_event(alice_api, scripted_llm):
    agent = create_agent(alice_api)
    scripted_llm.queue_error(PROVIDER_REFUSAL)
    events = sse_events(
        alice_api.post(f"/v1/agents/{agent['id']}/messages/stream", {"input": "hi", "include_pings": False})
    )
    names = [name for name, _ in events]
    assert "error" in names
    error = events[names.index("error")][1]
    assert error["message_type"] == "error_message" and error["run_id"] and error["message"]
    assert {"message_type": "stop_reason", "stop_reason": "llm_api_error"}.items() <= events[0][1].items()


@pytest.mark.django_db(transaction=True)
def test_async_run_then_poll(alice_api, scripted_llm):
    from agents.runs import wait

    agent = create_agent(alice_api)
    scripted_llm.queue_text("Done in the background.")
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages/async", {"input": "work"})
    assert r.status_code == 200, r.content
    run = r.json()
    assert run["id"].startswith("run-") and run["agent_id"] == agent["id"] and run["background"] is True
    wait(run["id"], timeout=30)
    done = alice_api.get(f"/v1/runs/{run['id']}").json()
    assert done["status"] == "completed" and done["stop_reason"] == "end_turn"
    assert done["metadata"]["result"]["messages"][0]["content"] == "Done in the background."
    listed = alice_api.get("/v1/runs/", {"agent_id": agent["id"]}).json()
    assert [x["id"] for x in listed] == [run["id"]]
    assert alice_api.get("/v1/runs/", {"active": "true"}).json() == []


def test_list_messages_pages_with_cursors(alice_api, scripted_llm):
    agent = create_agent(alice_api)
    for i in range(3):
        scripted_llm.queue_text(f"reply {i}")
        alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": f"message {i}"})
    everything = alice_api.get(f"/v1/agents/{agent['id']}/messages", {"limit": 100}).json()
    seen, after = [], None
    while page := alice_api.get(
        f"/v1/agents/{agent['id']}/messages", {"limit": 2, **({"after": after} if after else {})}
    ).json():
        seen += page
        after = page[-1]["id"]
    assert [m["id"] for m in seen] == [m["id"] for m in everything]
    oldest = alice_api.get(f"/v1/agents/{agent['id']}/messages", {"order": "asc", "limit": 2}).json()
    assert oldest[0]["message_type"] == "system_message"
    assert alice_api.get(f"/v1/agents/{agent['id']}/messages", {"after": "message-x"}).status_code == 400


def test_modify_reset_and_cancel(alice_api, scripted_llm):
    agent = create_agent(alice_api)
    scripted_llm.queue_text("Hello!")
    reply = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"}).json()
    said = reply["messages"][0]
    r = alice_api.patch(
        f"/v1/agents/{agent['id']}/messages/{said['id']}",
        {"message_type": "assistant_message", "content": "Hello there!"},
    )
    assert r.status_code == 200 and r.json()[0]["content"] == "Hello there!"
    assert Message.objects.get(id=said["id"]).text == "Hello there!"
    r = alice_api.patch(
        f"/v1/agents/{agent['id']}/messages/{said['id']}", {"message_type": "user_message", "content": "x"}
    )
    assert r.status_code == 400

    r = alice_api.post(f"/v1/agents/{agent['id']}/messages/cancel", {})
    assert r.status_code == 409 and "No active runs" in r.json()["detail"]

    r = alice_api.patch(f"/v1/agents/{agent['id']}/reset-messages", {"add_default_initial_messages": False})
    assert r.status_code == 200 and len(r.json()["message_ids"]) == 1
    kept = [m["message_type"] for m in alice_api.get(f"/v1/agents/{agent['id']}/messages").json()]
    assert "system_message" in kept and len(kept) > 1  # only the in-context list was reset


def test_messages_and_runs_of_other_organizations_are_404(alice_api, mallory_api, scripted_llm):
    agent = create_agent(alice_api)
    scripted_llm.queue_text("secret reply")
    reply = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "the code is 42"}).json()
    run_id, message_id = reply["messages"][0]["run_id"], reply["messages"][0]["id"]
    assert mallory_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"}).status_code == 404
    assert mallory_api.post(f"/v1/agents/{agent['id']}/messages/stream", {"input": "hi"}).status_code == 404
    assert mallory_api.get(f"/v1/agents/{agent['id']}/messages").status_code == 404
    assert mallory_api.get(f"/v1/runs/{run_id}").status_code == 404
    assert mallory_api.get(f"/v1/runs/{run_id}/messages").status_code == 404
    assert mallory_api.post(f"/v1/runs/{run_id}/stream", {}).status_code == 404
    assert mallory_api.get(f"/v1/messages/{message_id}").status_code == 404
    assert (
        mallory_api.patch(
            f"/v1/agents/{agent['id']}/messages/{message_id}", {"message_type": "assistant_message", "content": "pwned"}
        ).status_code
        == 404
    )
    assert mallory_api.get("/v1/runs/").json() == []
    assert Run.objects.count() == 1 and Message.objects.get(id=message_id).text == "secret reply"


def test_approval_round_trip(alice_api, scripted_llm):
    tool = alice_api.post("/v1/tools/", {"source_code": ROLL}).json()
    agent = create_agent(alice_api, tool_ids=[tool["id"]])
    alice_api.patch(f"/v1/agents/{agent['id']}/tools/approval/roll_dice", {"requires_approval": True})
    scripted_llm.queue_tool_call("roll_dice", {"sides": 6}, id="call_1")
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "Roll a die"}).json()
    assert r["stop_reason"]["stop_reason"] == "requires_approval"
    assert r["messages"][-1]["message_type"] == "approval_request_message"
    pending = alice_api.get(f"/v1/agents/{agent['id']}", {"include": ["agent.pending_approval"]}).json()
    assert pending["pending_approval"]["tool_call"]["tool_call_id"] == "call_1"
    assert alice_api.get(f"/v1/agents/{agent['id']}").json()["pending_approval"] is None  # only when asked

    busy = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "Hello?"})
    assert busy.status_code == 409 and "waiting for approval" in busy.json()["detail"]

    scripted_llm.queue_text("You rolled 6.")
    r = alice_api.post(
        f"/v1/agents/{agent['id']}/messages",
        {
            "messages": [
                {"type": "approval", "approvals": [{"type": "approval", "tool_call_id": "call_1", "approve": True}]}
            ]
        },
    )
    assert r.status_code == 200, r.content
    kinds = [m["message_type"] for m in r.json()["messages"]]
    assert "tool_return_message" in kinds and kinds[-1] == "assistant_message"
    assert (
        alice_api.get(f"/v1/agents/{agent['id']}", {"include": ["agent.pending_approval"]}).json()["pending_approval"]
        is None
    )


def test_tags_list(alice_api, mallory_api):
    create_agent(alice_api, tags=["alpha", "beta"])
    create_agent(alice_api, tags=["beta", "gamma"])
    assert alice_api.get("/v1/tags/").json() == ["alpha", "beta", "gamma"]
    assert alice_api.get("/v1/tags", {"after": "alpha", "limit": 1}).json() == ["beta"]
    assert alice_api.get("/v1/tags/", {"order": "desc", "query_text": "a"}).json() == ["gamma", "beta", "alpha"]
    assert mallory_api.get("/v1/tags/").json() == []


@pytest.mark.django_db(transaction=True)
def test_cancel_an_active_run(alice_api, scripted_llm):
    """A cancelled run stops before its next step (a step in progress finishes)."""
    from agents.runs import wait

    agent = create_agent(alice_api)
    scripted_llm.queue(
        {"tool_calls": [{"name": "conversation_search", "arguments": {"query": "x"}}], "delay_ms": 1500},
        {"text": "This answer never arrives."},
    )
    run = alice_api.post(f"/v1/agents/{agent['id']}/messages/async", {"input": "take your time"}).json()
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages/cancel", {"run_ids": [run["id"]]})
    assert r.status_code == 200 and r.json() == {run["id"]: "cancelled"}
    assert wait(run["id"], timeout=30).status == "cancelled"
    assert alice_api.get(f"/v1/runs/{run['id']}").json()["stop_reason"] == "cancelled"
    said = [
        m["content"]
        for m in alice_api.get(f"/v1/agents/{agent['id']}/messages").json()
        if m["message_type"] == "assistant_message"
    ]
    assert "This answer never arrives." not in said


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_turns_on_celery_workers(alice_api, scripted_llm, celery_workers):
    """With workers the API only enqueues: the sync reply waits on the run, the stream relays it from Redis."""
    from agents.runs import runs_on_workers

    assert runs_on_workers()
    agent = create_agent(alice_api)
    scripted_llm.queue_text("Answered by a worker.")
    reply = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"})
    assert reply.status_code == 200 and reply.json()["messages"][0]["content"] == "Answered by a worker."

    scripted_llm.queue_text("Streamed by a worker.")
    events = sse_events(
        alice_api.post(f"/v1/agents/{agent['id']}/messages/stream", {"input": "again", "include_pings": False})
    )
    kinds = [e["message_type"] if isinstance(e, dict) else e for _, e in events]
    assert kinds == ["assistant_message", "stop_reason", "usage_statistics", "[DONE]"]
    assert events[0][1]["content"] == "Streamed by a worker."


@pytest.mark.django_db(transaction=True)
def test_keep_alive_pings_while_the_model_is_silent(alice_api, scripted_llm, monkeypatch):
    import agents.api.messages

    monkeypatch.setattr(agents.api.messages, "PING_SECONDS", 0.2)
    agent = create_agent(alice_api)
    scripted_llm.queue({"text": "Finally.", "delay_ms": 1500})
    events = [e for _, e in sse_events(alice_api.post(f"/v1/agents/{agent['id']}/messages/stream", {"input": "hi"}))]
    kinds = [e["message_type"] if isinstance(e, dict) else e for e in events]
    first_reply = kinds.index("assistant_message")
    assert kinds[:first_reply].count("ping") >= 3  # the opening ping and keep-alives during the model's silence
    assert all(e["run_id"] == events[0]["run_id"] and e["id"].startswith("ping-") for e in events[:first_reply])
    assert kinds[first_reply:] == ["assistant_message", "stop_reason", "usage_statistics", "[DONE]"]
