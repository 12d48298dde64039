"""Sleep-time agents (spec behaviour §8.1): a companion that shares the main agent's blocks and, every N turns,
edits them from the transcript; its edits carry history rows and reach the main agent's watchers live."""

import pytest

from ade.events import agent_group
from agents import runs
from agents.actions import create_agent, group_of
from agents.models import Message, Run
from agents.sleeptime import RUN_TYPE
from memory.models import BlockHistory
from tests.events import GroupListener


@pytest.fixture
def main(alice, scripted_llm):
    return create_agent(
        alice,
        {
            "name": "main",
            "enable_sleeptime": True,
            "memory_blocks": [
                {"label": "persona", "value": "I am a helpful assistant."},
                {"label": "human", "value": ""},
            ],
        },
    )


def companion_of(agent):
    return group_of(agent).agents.get()


def say(user, agent, text):
    run = runs.start_turn(user, agent.id, [{"role": "user", "content": text}])
    runs.submit(run)
    return runs.wait(run.id, timeout=60)


def companion_runs(companion):
    return list(Run.objects.filter(agent=companion).order_by("created_at"))


def queue_edit(scripted_llm, fact):
    scripted_llm.queue_tool_call("memory_insert", {"label": "human", "new_string": fact})
    scripted_llm.queue_tool_call("memory_finish_edits", {})


@pytest.mark.django_db(transaction=True)
def test_enable_sleeptime_creates_a_companion_sharing_the_blocks(main):
    companion = companion_of(main)
    group = group_of(main)
    assert (companion.name, companion.agent_type) == ("main-sleeptime", "sleeptime_agent")
    assert (group.manager_type, group.sleeptime_agent_frequency, group.turns_counter) == ("sleeptime", 5, -1)
    shared = {b.id for b in main.blocks.all()}
    assert shared < {b.id for b in companion.blocks.all()}
    assert companion.blocks.filter(label="memory_persona").exists()
    assert sorted(companion.tools.values_list("name", flat=True)) == [
        "memory_finish_edits",
        "memory_insert",
        "memory_replace",
        "memory_rethink",
    ]
    assert {"type": "exit_loop", "tool_name": "memory_finish_edits"} in companion.tool_rules
    assert "memory_insert" not in set(main.tools.values_list("name", flat=True))  # editing moved to the companion
    assert [m.role for m in Message.objects.filter(agent=companion)] == ["system"]


@pytest.mark.django_db(transaction=True)
def test_the_companion_edits_the_shared_block_on_turns_1_and_1_plus_n(alice, main, scripted_llm):
    companion = companion_of(main)
    group_of(main).__class__.objects.filter(manager_agent=main).update(sleeptime_agent_frequency=3)
    watcher = GroupListener(agent_group(main.id))
    scripted_llm.queue_text("Nice to meet you.")
    queue_edit(scripted_llm, "Travels by train.")
    assert say(alice, main, "first: I always take the train").status == "completed"
    [first] = companion_runs(companion)
    assert (first.status, first.metadata["run_type"]) == ("completed", RUN_TYPE)
    assert "user: first: I always take the train" in first.input[0]["content"]
    assert "assistant: Nice to meet you." in first.input[0]["content"]
    human = main.blocks.get(label="human")
    assert "Travels by train." in human.value
    row = BlockHistory.objects.filter(block=human).order_by("-version").first()
    assert (row.actor_type, row.actor_id, row.tool_name) == ("agent", companion.id, "memory_insert")
    assert "Travels by train." in Message.objects.get(id=main.message_ids[0]).text  # main's prompt shows it
    watcher.collect(lambda ev: any(e.get("type") == "block_updated" and e["block_id"] == human.id for e in ev))

    for text in ("second: hello", "third: how are you"):
        scripted_llm.queue_text("Fine.")
        say(alice, main, text)
    assert len(companion_runs(companion)) == 1  # turns 2 and 3 do not fire with a frequency of 3
    scripted_llm.queue_text("Noted.")
    queue_edit(scripted_llm, "Has a cat named Io.")
    say(alice, main, "fourth: my cat is called Io")
    later = companion_runs(companion)[-1]
    assert len(companion_runs(companion)) == 2 and later.status == "completed"
    seen = later.input[0]["content"]
    assert "user: second: hello" in seen and "user: fourth: my cat is called Io" in seen
    assert "first: I always take the train" not in seen  # processed last time
    assert "Has a cat named Io." in main.blocks.get(label="human").value


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_companion_runs_in_a_worker_and_its_edit_arrives_live(alice, main, scripted_llm, celery_workers):
    companion = companion_of(main)
    watcher = GroupListener(agent_group(main.id))
    companion_watcher = GroupListener(agent_group(companion.id))
    scripted_llm.queue_text("Good to know.")
    queue_edit(scripted_llm, "Works night shifts.")
    assert say(alice, main, "I work night shifts").status == "completed", celery_workers.logs()
    human = main.blocks.get(label="human")
    watcher.collect(
        lambda ev: any(e.get("type") == "block_updated" and e["block_id"] == human.id for e in ev), timeout=60
    )
    companion_watcher.collect(lambda ev: any(e.get("type") == "run_updated" for e in ev), timeout=60)
    [run] = companion_runs(companion)
    assert run.status == "completed", run.error
    human.refresh_from_db()
    assert "Works night shifts." in human.value
    assert BlockHistory.objects.filter(block=human, actor_id=companion.id, tool_name="memory_insert").exists()


@pytest.mark.django_db(transaction=True)
def test_enabling_sleeptime_later_creates_the_companion_once(alice, scripted_llm):
    from agents.actions import update_agent

    agent = create_agent(alice, {"name": "later", "memory_blocks": [{"label": "human", "value": ""}]})
    assert group_of(agent) is None
    update_agent(alice, agent.id, {"enable_sleeptime": True})
    update_agent(alice, agent.id, {"enable_sleeptime": True})
    companion = companion_of(agent)
    assert companion.name == "later-sleeptime"
    assert {b.id for b in agent.blocks.all()} < {b.id for b in companion.blocks.all()}
