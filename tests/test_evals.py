"""The eval runner (#16): `manage.py eval` with the oracle scores 100% on core-memory read, update and compaction
integrity (EVAL_FULL=1: 300 samples of read and update, 20 conversations), through the same agent, turn and reset
functions as the API; progress events; cancelling; archival retrieval's figures; a user's own suite."""

import json
import os
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

FULL = os.environ.get("EVAL_FULL") == "1"


def eval_command(*args) -> str:
    out = StringIO()
    call_command("eval", *args, stdout=out)
    return out.getvalue()


def last_run():
    from evals.models import EvalRun

    return EvalRun.objects.order_by("-created_at").first()


def oracle_row(text: str) -> dict:
    rows = re.findall(r"^engram/oracle\s+(\S+)\s+(\d+)\s+(\d+)", text, re.MULTILINE)
    assert rows, text
    score, samples, errors = rows[0]
    return {"score": score, "samples": int(samples), "errors": int(errors)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("suite", "samples"),
    [("core-memory-read", 300 if FULL else 20), ("core-memory-update", 300 if FULL else 20)],
)
def test_oracle_scores_everything_on_core_memory(suite, samples, scripted_llm):
    out = eval_command(suite, "--model", "engram/oracle", "--samples", str(samples), "--concurrency", "2")
    assert oracle_row(out) == {"score": "100.0%", "samples": samples, "errors": 0}, out
    assert f"{samples}/{samples} completed" in out  # the progress bar's last state
    run = last_run()
    assert run.status == "completed" and run.done == run.total == samples
    results = list(run.results.all())
    assert all(r.score == 1.0 and r.agent_id and r.total_tokens > 0 for r in results)
    agent = results[0].agent
    assert agent.hidden and run.id in set(agent.tag_rows.values_list("tag", flat=True))
    assert agent.metadata["eval"] == {"id": run.id, "index": 0, "model": "engram/oracle"}
    if suite == "core-memory-update":
        # The oracle changed its memory with the real tool, and the question came after a reset: only memory had it.
        assert all(r.grade["memory_updated"] for r in results)
        from agents.models import Message

        tools = Message.objects.filter(agent_id=agent.id, role="assistant").values_list("tool_calls", flat=True)
        assert any(c and c[0]["function"]["name"] == "memory_replace" for c in tools)
        assert len(agent.message_ids) == 3  # system + the question and its answer, after the reset


@pytest.mark.django_db(transaction=True)
def test_compaction_integrity_with_the_oracle(scripted_llm):
    samples = 20 if FULL else 2
    out = eval_command("compaction-integrity", "--samples", str(samples), "--concurrency", "2")
    assert oracle_row(out) == {"score": "100.0%", "samples": samples, "errors": 0}, out
    for result in last_run().results.all():
        assert result.grade["compactions"] >= 2 and result.grade["failed"] == []
        assert result.grade["facts_found"] and result.grade["last_turn_intact"]


@pytest.mark.django_db(transaction=True)
def test_a_broken_memory_path_is_a_miss(scripted_llm, monkeypatch):
    """The oracle only knows what the prompt shows: with the facts block left out of the prompt, it fails."""
    import evals.suites.memory as memory_suite

    real = memory_suite.facts_block
    monkeypatch.setattr(memory_suite, "facts_block", lambda facts: {**real(facts), "value": ""})
    out = eval_command("core-memory-read", "--samples", "3")
    assert oracle_row(out)["score"] == "0.0%", out


@pytest.mark.django_db(transaction=True)
def test_archival_retrieval_figures(scripted_llm, tmp_path):
    from django.conf import settings

    rows = (settings.BASE_DIR / "evals" / "data" / "core_memory_update.jsonl").read_text().splitlines()[:30]
    data = tmp_path / "facts.jsonl"
    data.write_text("\n".join(rows))
    out = eval_command("archival-retrieval", "--file", str(data), "--concurrency", "2")
    modes = dict(re.findall(r"^\s+(vector|fts|hybrid)\s+recall@5 [\d.]+\s+recall@10 ([\d.]+)", out, re.MULTILINE))
    assert set(modes) == {"vector", "fts", "hybrid"}, out
    assert float(modes["hybrid"]) >= 0.8, out
    run = last_run()
    assert run.done == 30 and run.summary["local/all-minilm-l6-v2"]["modes"]["hybrid"]["recall@10"] >= 0.8
    assert all(set(r.grade["ranks"]) == {"vector", "fts", "hybrid"} for r in run.results.all())


# The in-process layer: this test reads the group from sync code, and a Redis layer's receive does not survive
# async_to_sync's fresh event loop per call (pages on Redis are covered by tests/e2e/test_evals_page.py).
@override_settings(CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}})
@pytest.mark.django_db(transaction=True)
def test_progress_is_broadcast_to_the_eval_group(alice, scripted_llm):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from evals import actions, runner
    from evals.events import eval_group

    run = actions.start_eval(alice, suite="core-memory-read", models=["engram/oracle"], samples=3, launch=False)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(eval_group(run.id), channel)
    runner.run_here(run.id)
    events = []
    while True:
        try:
            message = (
                async_to_sync(layer.receive)(channel) if not events or events[-1]["status"] != "completed" else None
            )
        except Exception:
            break
        if message is None:
            break
        events.append(message["event"])
    assert [e["type"] for e in events] == ["eval_progress"] * 4
    assert [(e["status"], e["done"]) for e in events] == [
        ("running", 0),
        ("running", 1),
        ("running", 2),
        ("completed", 3),
    ]
    assert events[-1]["summary"]["engram/oracle"]["score"] == 100.0
    assert events[1]["result"]["transcript_url"] == f"/agents/{events[1]['result']['agent_id']}/"


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_new_samples(alice, scripted_llm):
    from evals import actions, runner

    run = actions.start_eval(alice, suite="core-memory-read", models=["engram/oracle"], samples=5, launch=False)
    assert runner.prepare(run.id).status == "running"
    assert runner.work(run.id)  # one sample played
    cancelled = actions.cancel_eval(alice, run.id)
    assert cancelled.status == "cancelled" and cancelled.completed_at is not None
    assert not runner.work(run.id)  # nothing more is claimed
    statuses = sorted(cancelled.results.values_list("status", flat=True))
    assert statuses == ["cancelled"] * 4 + ["done"]
    assert cancelled.done == 1


@pytest.mark.django_db(transaction=True)
def test_a_playing_sample_stops_at_its_next_turn(alice, scripted_llm):
    """Cancelled between the update message and the question: the sample ends cancelled, unanswered."""
    from evals import actions, runner
    from evals.models import EvalRun
    from evals.sample import Sample

    run = actions.start_eval(alice, suite="core-memory-update", models=["engram/oracle"], samples=1, launch=False)
    runner.prepare(run.id)
    real_reset = Sample.reset

    def reset_then_cancel(sample):
        real_reset(sample)
        EvalRun.objects.filter(id=run.id).update(status="cancelled")

    Sample.reset = reset_then_cancel
    try:
        assert runner.work(run.id)
    finally:
        Sample.reset = real_reset
    result = run.results.get()
    assert result.status == "cancelled" and result.answer == ""


@pytest.mark.django_db(transaction=True)
def test_a_user_suite_from_the_api_runs_with_the_oracle(alice_api, alice, scripted_llm):
    from evals import runner

    rows = [
        {"input": "What is the capital of Zorbia?", "ground_truth": "Quilltown",
         "agent_args": {"extra": {"facts": ["The capital of Zorbia is Quilltown.", "Zorbia exports glass."]}}},
        {"input": "Which river runs through Quilltown?", "ground_truth": "the Amber",
         "agent_args": {"extra": {"facts": ["The Amber runs through Quilltown.", "Quilltown has a tram."]}}},
    ]  # fmt: skip
    made = alice_api.post(
        "/v1/evals/suites/", {"name": "zorbia v2.0", "jsonl": "\n".join(map(json.dumps, rows)), "grader": "contains"}
    )
    assert made.status_code == 201, made.content
    assert made.json()["samples"] == 2 and not made.json()["builtin"]
    names = [s["name"] for s in alice_api.get("/v1/evals/suites/").json()]
    assert names[:4] == ["core-memory-read", "core-memory-update", "archival-retrieval", "compaction-integrity"]
    assert "zorbia v2.0" in names  # a name with a dot: agent names allow none, the sample agents still get one
    started = alice_api.post("/v1/evals/", {"suite": "zorbia v2.0", "models": ["engram/oracle"], "concurrency": 2})
    assert started.status_code == 201, started.content
    eval_id = started.json()["id"]
    runner.join(eval_id, timeout=120)  # the embedded runner's thread
    got = alice_api.get(f"/v1/evals/{eval_id}").json()
    assert got["status"] == "completed" and got["summary"]["engram/oracle"]["score"] == 100.0
    results = alice_api.get(f"/v1/evals/{eval_id}/results").json()
    assert [(r["index"], r["score"]) for r in results] == [(0, 1.0), (1, 1.0)]
    assert "Quilltown" in results[0]["answer"]
    assert [e["id"] for e in alice_api.get("/v1/evals/").json()] == [eval_id]


@pytest.mark.django_db
def test_the_judge_model_grades_with_our_prompt(scripted_llm, settings):
    from evals.grading import JUDGE_PROMPT, grade

    assert grade("contains+judge", "Who?", "Nora Fishel", "It was nora  fishel.") == (1.0, {"contains": True})
    settings.EVAL_JUDGE_MODEL = "engram/scripted"
    scripted_llm.queue_text("CORRECT")
    score, details = grade("contains+judge", "Who led the choir?", "Ada", "Ada did.")
    assert (score, details["judge"], details["judge_model"]) == (1.0, "CORRECT", "engram/scripted")
    sent = scripted_llm.last_request()["messages"]
    assert sent[0]["content"] == JUDGE_PROMPT and "Answer given: Ada did." in sent[1]["content"]
    scripted_llm.queue_text("INCORRECT, it names someone else")
    assert grade("judge", "Who led the choir?", "Ada", "Bo did.")[0] == 0.0


@pytest.mark.django_db(transaction=True)
def test_the_command_lists_and_adds_suites(tmp_path, scripted_llm):
    from django.core.management.base import CommandError

    from evals.actions import model_choices
    from evals.management.commands.eval import _user

    listed = eval_command("--list")
    assert re.search(r"^core-memory-read\s+300\s", listed, re.MULTILINE), listed
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"input": "Who founded Quilltown?", "ground_truth": "Mira Osk",
                                "agent_args": {"extra": {"facts": ["Mira Osk founded Quilltown."]}}}))  # fmt: skip
    assert "Added suite 'towns' (1 rows, grader exact)" in eval_command(
        "--add-suite", "towns", "--file", str(rows), "--grader", "exact"
    )
    assert "towns" in eval_command("--list")
    out = eval_command("towns")  # exact: the oracle's sentence is not the bare answer
    assert oracle_row(out)["score"] == "0.0%", out
    with pytest.raises(CommandError, match="suite"):
        eval_command("nothing-like-it")
    user = _user(None)
    assert model_choices(user, "core-memory-read")[0] == "engram/oracle"
    assert "local/all-minilm-l6-v2" in model_choices(user, "archival-retrieval")


@pytest.mark.django_db(transaction=True)
def test_an_eval_whose_player_died_goes_on(alice, scripted_llm, settings):
    """A sample left running by a dead worker becomes an error once its eval shows no sign of life for
    EVAL_STALE_SECONDS; a reader's look relaunches the pending samples and the eval completes."""
    from datetime import timedelta

    from django.utils import timezone

    from evals import actions, runner
    from evals.models import EvalResult, EvalRun

    run = actions.start_eval(alice, suite="core-memory-read", models=["engram/oracle"], samples=3, launch=False)
    runner.prepare(run.id)
    EvalResult.objects.filter(run=run, index=0).update(status="running", started_at=timezone.now())  # its player died
    assert actions.get_eval_for(alice, run.id).status == "running"  # fresh heartbeat: nothing to recover yet
    EvalRun.objects.filter(id=run.id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.EVAL_STALE_SECONDS + 1)
    )
    actions.get_eval_for(alice, run.id)
    runner.join(run.id, timeout=60)
    run.refresh_from_db()
    assert (run.status, run.done) == ("completed", 3)
    assert list(run.results.values_list("index", "status")) == [(0, "error"), (1, "done"), (2, "done")]
    assert run.results.get(index=0).error == runner.INTERRUPTED
    assert run.summary["engram/oracle"]["errors"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("agent_type", ["memgpt_agent", "memgpt_v2_agent"])
def test_the_target_agent_type_is_played(agent_type, scripted_llm):
    """Heartbeat agents (send_message, core_memory_* or memory_* tools) reach 100% too."""
    out = eval_command("core-memory-update", "--samples", "3", "--target", json.dumps({"agent_type": agent_type}))
    assert oracle_row(out) == {"score": "100.0%", "samples": 3, "errors": 0}, out
    agent = last_run().results.first().agent
    assert agent.agent_type == agent_type and "send_message" in set(agent.tools.values_list("name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_conversation_retrieval_figures(scripted_llm):
    """Our long-conversation suite (#16): questions in a message's own words and paraphrased; hybrid ranking is at
    least as good as meaning alone and clearly better than words alone."""
    out = eval_command("conversation-retrieval", "--samples", "20", "--concurrency", "2")
    run = last_run()
    modes = run.summary["local/all-minilm-l6-v2"]["modes"]
    assert run.done == 20 and {r.grade["kind"] for r in run.results.all()} == {"words", "meaning"}, out
    assert (
        modes["hybrid"]["mrr"] >= modes["vector"]["mrr"]
        and modes["hybrid"]["recall@10"] >= modes["vector"]["recall@10"]
    ), out
    assert modes["hybrid"]["recall@10"] > modes["fts"]["recall@10"] + 0.3, out


@pytest.mark.django_db(transaction=True)
def test_an_eval_whose_set_up_died_fails_with_a_clear_error(alice, settings):
    """A worker killed while preparing an eval (created, its set-up begun) must not leave it created for ever."""
    from datetime import timedelta

    from django.utils import timezone

    from evals import actions, runner
    from evals.models import EvalRun

    run = actions.start_eval(alice, suite="core-memory-read", models=["engram/oracle"], samples=2, launch=False)
    assert actions.get_eval_for(alice, run.id).status == "created"  # queued, not begun: left alone
    began = timezone.now() - timedelta(seconds=settings.EVAL_STALE_SECONDS + 1)
    EvalRun.objects.filter(id=run.id).update(heartbeat_at=began)  # what prepare() stamps before the set-up
    run = actions.get_eval_for(alice, run.id)
    assert (run.status, run.error) == ("failed", runner.PREPARE_INTERRUPTED)
    assert run.completed_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_progress_ends_with_the_ended_eval_when_its_last_sample_was_seen_before(alice):
    """The command's bar stopped at "20/20 running" when a poll came between the last sample and the eval's end."""
    from evals import actions, runner
    from evals.models import EvalRun

    run = actions.start_eval(alice, suite="core-memory-read", models=["engram/oracle"], samples=2, launch=False)
    EvalRun.objects.filter(id=run.id).update(status="running", done=2)
    seen = []

    def on_progress(state):
        seen.append(f"{state.done}/{state.total} {state.status}")
        if len(seen) == 1:  # the eval ends after this poll, with no sample left to count
            runner._finish(run.id, "completed")

    runner.wait(run.id, on_progress=on_progress, poll=0.05)
    assert seen == ["2/2 running", "2/2 completed"]
