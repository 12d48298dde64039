"""Agent files over /v1: the real sample files import and answer, export → import round trips, bad files change
nothing."""

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agents.models import Agent, Group, Message
from memory.models import Block
from tools.models import Tool

SAMPLES = Path("/work/shared/af-samples")
SCRIPTED = {"model": "engram/scripted", "embedding": "local/all-minilm-l6-v2"}
NOTE = '''
def take_note(text: str) -> str:
    """Write a note down.

    Args:
        text: What to write.
    """
    return "noted: " + text
'''


def import_file(api, data, name="agent.af", **form):
    data = data if isinstance(data, bytes) else json.dumps(data).encode()
    return api.upload(
        "/v1/agents/import",
        {"file": SimpleUploadedFile(name, data, "application/json")},
        {k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()},
    )


def counts():
    return Agent.objects.count(), Block.objects.count(), Tool.objects.count(), Message.objects.count()


@pytest.mark.parametrize(
    ("sample", "agents", "blocks", "tools"),
    [
        ("loop.af", ["Loop_copy"], [9], [9]),
        ("evie.af", ["Evie_copy", "companion-sleeptime_copy_copy"], [12, 13], [17, 4]),
        ("outreach_workflow_agent.af", ["outreach_workflow_agent_copy"], [0], [4]),  # double-encoded JSON
    ],
)
def test_sample_files_import_and_their_agents_answer(alice_api, scripted_llm, sample, agents, blocks, tools):
    r = import_file(alice_api, (SAMPLES / sample).read_bytes(), sample, **SCRIPTED)
    assert r.status_code == 200, r.content
    ids = r.json()["agent_ids"]
    states = [alice_api.get(f"/v1/agents/{i}").json() for i in ids]
    assert [s["name"] for s in states] == agents
    assert [len(s["blocks"]) for s in states] == blocks and [len(s["tools"]) for s in states] == tools
    for state in states:
        assert state["model"] == "engram/scripted"
        scripted_llm.queue_text(f"Hello, this is {state['name']}.")
        reply = alice_api.post(f"/v1/agents/{state['id']}/messages", {"input": "Hi, who are you?"})
        assert reply.status_code == 200, reply.content
        assert reply.json()["messages"][-1]["content"] == f"Hello, this is {state['name']}."


def test_sample_details_survive_import(alice_api, scripted_llm):
    loop = import_file(alice_api, (SAMPLES / "loop.af").read_bytes(), **SCRIPTED).json()["agent_ids"][0]
    history = alice_api.get(f"/v1/agents/{loop}/messages", {"order": "asc"}).json()
    assert [m["message_type"] for m in history] == ["system_message", "assistant_message", "tool_return_message"]
    assert history[1]["content"] == "I'm Loop. I remember. What's on your mind?"
    assert len(Agent.objects.get(id=loop).message_ids) == 3

    evie, companion = import_file(alice_api, (SAMPLES / "evie.af").read_bytes(), **SCRIPTED).json()["agent_ids"]
    group = Group.objects.get(manager_agent_id=evie)
    assert [a.id for a in group.agents.all()] == [companion] and group.sleeptime_agent_frequency == 5
    shared = set(Agent.objects.get(id=evie).blocks.values_list("id", flat=True))
    assert shared < set(Agent.objects.get(id=companion).blocks.values_list("id", flat=True))

    workflow = import_file(alice_api, (SAMPLES / "outreach_workflow_agent.af").read_bytes(), **SCRIPTED).json()[
        "agent_ids"
    ][0]
    rules = alice_api.get(f"/v1/agents/{workflow}").json()["tool_rules"]
    assert {r["type"] for r in rules} == {"run_first", "constrain_child_tools", "conditional", "exit_loop"}
    conditional = next(r for r in rules if r["type"] == "conditional")
    assert conditional["child_output_mapping"] == {"True": "send_email", "False": "reject"}


def test_round_trip(alice_api, scripted_llm):
    alice_api.post("/v1/tools/", {"source_code": NOTE})
    agent = alice_api.post(
        "/v1/agents/",
        {
            "name": "keeper",
            "memory_blocks": [
                {"label": "human", "value": "Name: Ada"},
                {"label": "persona", "value": "I keep notes.", "limit": 500},
            ],
            "tools": ["take_note"],
            "tags": ["notes"],
            "secrets": {"NOTES_TOKEN": "do-not-export"},
            "tool_rules": [{"type": "exit_loop", "tool_name": "take_note"}],
        },
    ).json()
    scripted_llm.queue_text("Hello Ada.")
    alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "Hi, I am Ada"})

    r = alice_api.get(f"/v1/agents/{agent['id']}/export")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/json")
    doc = r.json()
    text = r.content.decode()
    assert "do-not-export" not in text and doc["agents"][0]["secrets"] == {"NOTES_TOKEN": ""}
    references = list(_references(doc))
    assert references and all(re.fullmatch(r"[a-z_]+-\d+", ref) for ref in references), references
    exported = doc["agents"][0]
    assert exported["id"] == "agent-0" and exported["in_context_message_ids"][0] == "message-0"
    assert [b["label"] for b in doc["blocks"]] == ["human", "persona"]
    assert len(exported["messages"]) == 3 and len(exported["in_context_message_ids"]) == 3

    r = import_file(alice_api, r.content, secrets=json.dumps({"NOTES_TOKEN": "new-token"}))
    assert r.status_code == 200, r.content
    [copy_id] = r.json()["agent_ids"]
    copy = alice_api.get(f"/v1/agents/{copy_id}", {"include": ["agent.secrets"]}).json()
    assert copy["name"] == "keeper_copy" and copy_id != agent["id"]
    assert [(b["label"], b["value"], b["limit"]) for b in copy["blocks"]] == [
        ("human", "Name: Ada", 100000),
        ("persona", "I keep notes.", 500),
    ]
    assert {b["id"] for b in copy["blocks"]}.isdisjoint({b["id"] for b in agent["blocks"]})  # blocks are new
    assert sorted(t["name"] for t in copy["tools"]) == sorted(t["name"] for t in agent["tools"])
    assert Tool.objects.filter(name="take_note").count() == 1  # upserted by name
    assert copy["tool_rules"] == agent["tool_rules"] and copy["tags"] == ["notes"]
    assert copy["llm_config"]["handle"] == "engram/scripted" and copy["embedding_config"] == agent["embedding_config"]
    assert copy["secrets"][0]["key"] == "NOTES_TOKEN" and copy["secrets"][0]["value"] == "****"  # masked on read
    assert Agent.objects.get(id=copy["id"]).secrets == {"NOTES_TOKEN": "new-token"}
    assert len(copy["message_ids"]) == 3
    said = [
        m
        for m in alice_api.get(f"/v1/agents/{copy_id}/messages", {"order": "asc"}).json()
        if m["message_type"] != "system_message"
    ]
    assert [(m["message_type"], m["content"]) for m in said] == [
        ("user_message", "Hi, I am Ada"),
        ("assistant_message", "Hello Ada."),
    ]

    again = import_file(
        alice_api,
        alice_api.get(f"/v1/agents/{agent['id']}/export").content,
        append_copy_suffix=False,
        strip_messages=True,
    )
    plain = alice_api.get(f"/v1/agents/{again.json()['agent_ids'][0]}").json()
    assert plain["name"] == "keeper" and len(plain["message_ids"]) == 1


def _references(node, key=""):
    """Every id the document uses to point at its own entities (not tool-call ids, otids or link row ids)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("files_agents", "tool_calls", "tool_returns", "approvals"):
                continue
            yield from _references(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item, key)
    elif (
        isinstance(node, str)
        and (key == "id" or key.endswith("_id") or key.endswith("_ids"))
        and key not in ("tool_call_id", "created_by_id", "last_updated_by_id")
    ):
        yield node


def test_existing_tools_can_be_kept(alice_api):
    alice_api.post("/v1/tools/", {"source_code": NOTE})
    agent = alice_api.post("/v1/agents/", {"name": "keeper", "tools": ["take_note"]}).json()
    doc = alice_api.get(f"/v1/agents/{agent['id']}/export").json()
    next(t for t in doc["tools"] if t["name"] == "take_note")["source_code"] = NOTE.replace("noted: ", "NOTED: ")
    import_file(alice_api, doc, override_existing_tools=False)
    assert "noted: " in Tool.objects.get(name="take_note").source_code
    import_file(alice_api, doc)
    assert "NOTED: " in Tool.objects.get(name="take_note").source_code


def legacy_v1():
    return {
        "agent_type": "memgpt_agent",
        "name": "old",
        "version": "0.6.47",
        "core_memory": [],
        "tools": [],
        "messages": [],
        "in_context_message_indices": [],
    }


def broken_reference():
    doc = json.loads((SAMPLES / "loop.af").read_text())
    doc["agents"][0]["block_ids"].append("block-99")
    return doc


def duplicate_ids():
    doc = json.loads((SAMPLES / "loop.af").read_text())
    doc["blocks"][1]["id"] = doc["blocks"][0]["id"]
    return doc


def db_style_id():
    doc = json.loads((SAMPLES / "loop.af").read_text())
    doc["agents"][0]["id"] = "agent-123e4567-e89b-42d3-8456-426614174000"
    return doc


def unknown_endpoint_type():
    doc = json.loads((SAMPLES / "loop.af").read_text())
    doc["agents"][0]["llm_config"]["model_endpoint_type"] = "martian"
    return doc


def bad_block():
    doc = json.loads((SAMPLES / "loop.af").read_text())
    doc["blocks"][-1]["limit"] = 3  # its value is longer: fails after tools and other blocks were written
    return doc


@pytest.mark.parametrize(
    ("data", "word"),
    [
        (b"\x00\x01 not json at all", "Corrupted agent file"),
        (b"[1, 2, 3]", "JSON object"),
        (json.dumps(legacy_v1()).encode(), "legacy (v1)"),
        (json.dumps(json.dumps(legacy_v1())).encode(), "legacy (v1)"),
        (json.dumps({"agents": [{"id": "agent-0", "messages": "many"}]}).encode(), "agents.0.messages"),
        (json.dumps(broken_reference()).encode(), "block-99"),
        (json.dumps(duplicate_ids()).encode(), "used twice"),
        (json.dumps(db_style_id()).encode(), "agent-<number>"),
        (json.dumps(bad_block()).encode(), "limit"),
        (json.dumps(unknown_endpoint_type()).encode(), "model_endpoint_type"),
    ],
)
def test_bad_agent_files_are_400_and_change_nothing(alice_api, data, word):
    before = counts()
    r = import_file(alice_api, data, **SCRIPTED)
    assert r.status_code == 400, r.content
    assert word in r.json()["detail"]
    assert counts() == before


def test_bad_import_form(alice_api):
    sample = (SAMPLES / "loop.af").read_bytes()
    assert import_file(alice_api, sample, secrets="not json").status_code == 400
    assert import_file(alice_api, sample, model="engram/nothing").status_code == 404
    assert import_file(alice_api, sample, colour="red").status_code == 422
    r = alice_api.upload("/v1/agents/import", {})
    assert r.status_code == 422 and "file" in r.json()["detail"]
    assert counts()[0] == 0


def test_export_is_scoped_and_legacy_export_refused(alice_api, mallory_api):
    agent = alice_api.post("/v1/agents/", {"name": "private"}).json()
    assert mallory_api.get(f"/v1/agents/{agent['id']}/export").status_code == 404
    assert alice_api.get(f"/v1/agents/{agent['id']}/export", {"use_legacy_format": "true"}).status_code == 400
    scrubbed = alice_api.get(f"/v1/agents/{agent['id']}/export", {"scrub_messages": "true"}).json()
    assert scrubbed["agents"][0]["messages"] == [] and scrubbed["agents"][0]["in_context_message_ids"] == []
