"""/v1 agents: create with Letta defaults, list/filter/paginate, retrieve, modify with versions, relations, delete,
context window, and the organization boundary."""

import pytest

from agents.models import Agent, AgentBlock, AgentTool, Message
from memory.models import Block
from tools.models import Tool

ROLL = '''
def roll_dice(sides: int) -> str:
    """Roll a die.

    Args:
        sides: How many sides the die has.
    """
    return str(sides)
'''


def create(api, **body):
    r = api.post("/v1/agents/", body)
    assert r.status_code == 200, r.content
    return r.json()


def test_create_with_blocks_tools_and_tags(alice_api):
    alice_api.post("/v1/tools/", {"source_code": ROLL})
    agent = create(
        alice_api,
        name="helper",
        memory_blocks=[{"label": "human", "value": "Name: Ada"}, {"label": "persona", "value": "I help.", "limit": 50}],
        tools=["roll_dice"],
        tags=["demo", "docs"],
        metadata={"team": "x"},
        secrets={"API_TOKEN": "s3cret"},
    )
    assert agent["id"].startswith("agent-") and agent["agent_type"] == "letta_v1_agent"
    assert agent["model"] == "engram/scripted" and agent["llm_config"]["model_endpoint_type"] == "openai"
    assert (
        [b["label"] for b in agent["memory"]["blocks"]] == ["human", "persona"] == [b["label"] for b in agent["blocks"]]
    )
    assert {t["name"] for t in agent["tools"]} == {
        "conversation_search",
        "memory_insert",
        "memory_replace",
        "roll_dice",
    }
    assert agent["tags"] == ["demo", "docs"] and agent["metadata"] == {"team": "x"}
    assert agent["secrets"] == []  # values only with include=agent.secrets
    assert len(agent["message_ids"]) == 1 and "Name: Ada" in Message.objects.get(id=agent["message_ids"][0]).text

    full = alice_api.get(f"/v1/agents/{agent['id']}", {"include": ["agent.secrets"]}).json()
    assert full["secrets"] == [  # masked on read; the value is stored encrypted
        {"agent_id": agent["id"], "key": "API_TOKEN", "value": "****", "id": None, "description": None}
    ]
    from django.db import connection

    from agents.models import Agent

    assert Agent.objects.get(id=agent["id"]).secrets == {"API_TOKEN": "s3cret"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM agents_agent WHERE id = %s", [agent["id"]])
        stored = cursor.fetchone()[0]
    assert "s3cret" not in stored and "API_TOKEN" not in stored
    long_value = alice_api.patch(
        f"/v1/agents/{agent['id']}", {"secrets": {"API_TOKEN": "s3cret", "KEY": "sk-1234567890abcd"}}
    )
    assert long_value.status_code == 200
    shown = alice_api.get(f"/v1/agents/{agent['id']}", {"include": ["agent.secrets"]}).json()["secrets"]
    assert {s["key"]: s["value"] for s in shown} == {"API_TOKEN": "****", "KEY": "****abcd"}
    # Sending back what was shown keeps the stored values; a new value replaces one.
    alice_api.patch(f"/v1/agents/{agent['id']}", {"secrets": {"API_TOKEN": "other", "KEY": "****abcd"}})
    assert Agent.objects.get(id=agent["id"]).secrets == {"API_TOKEN": "other", "KEY": "sk-1234567890abcd"}


def test_create_without_trailing_slash_and_legacy_type(alice_api):
    r = alice_api.post("/v1/agents", {"agent_type": "memgpt_v2_agent", "include_base_tools": True})
    assert r.status_code == 200
    assert {t["name"] for t in r.json()["tools"]} == {
        "send_message",
        "conversation_search",
        "memory_insert",
        "memory_replace",
    }


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({"name": "bad/name"}, 422, "name"),
        ({"name": "ok", "colour": "red"}, 422, "colour"),
        ({"name": "ok", "tags": "demo"}, 422, "tags"),
        ({"name": "ok", "model": "nomodel"}, 400, "model"),
        ({"name": "ok", "model": "openai/gpt-nothing"}, 404, "not available"),
        ({"name": "ok", "tools": ["no_such_tool"]}, 404, "no_such_tool"),
        ({"name": "ok", "memory_blocks": [{"label": "human", "value": "x" * 20, "limit": 5}]}, 422, "limit"),
        ({"name": "ok", "block_ids": ["block-123e4567-e89b-42d3-8456-426614174000"]}, 404, "Block"),
        (
            {"name": "ok", "llm_config": {"model": "m", "model_endpoint_type": "martian", "context_window": 5}},
            422,
            "model_endpoint_type",
        ),
        ({"name": "ok", "tool_rules": [{"type": "run_first"}]}, 400, "tool_name"),
    ],
)
def test_bad_agent_input_is_4xx_and_writes_nothing(alice_api, body, status, word):
    r = alice_api.post("/v1/agents/", body)
    assert r.status_code == status, r.content
    assert word in r.json()["detail"]
    assert not Agent.objects.exists() and not Block.objects.exists() and not Message.objects.exists()


def test_list_filters_count_and_pages(alice_api, django_assert_max_num_queries):
    ids = [create(alice_api, name=f"bot {i}", tags=["even" if i % 2 == 0 else "odd", "all"])["id"] for i in range(7)]
    seen, after = [], None
    while page := alice_api.get("/v1/agents/", {"limit": 3, **({"after": after} if after else {})}).json():
        seen += [a["id"] for a in page]
        after = page[-1]["id"]
    assert seen == ids[::-1]  # newest first
    oldest_first = [a["id"] for a in alice_api.get("/v1/agents/", {"order": "asc", "limit": 4}).json()]
    assert oldest_first == ids[:4]
    assert len(alice_api.get("/v1/agents/", {"tags": ["even"]}).json()) == 4
    assert len(alice_api.get("/v1/agents/", {"tags": ["even", "odd"]}).json()) == 7
    assert alice_api.get("/v1/agents/", {"tags": ["even", "odd"], "match_all_tags": "true"}).json() == []
    assert [a["name"] for a in alice_api.get("/v1/agents/", {"name": "bot 3"}).json()] == ["bot 3"]
    assert len(alice_api.get("/v1/agents/", {"query_text": "BOT"}).json()) == 7
    assert alice_api.get("/v1/agents/count", {"tags": ["odd"]}).json() == 3

    with django_assert_max_num_queries(14):  # no query per agent
        assert len(alice_api.get("/v1/agents/", {"limit": 50}).json()) == 7


def test_modify_replaces_sets_and_refuses_stale_versions(alice_api):
    tool = alice_api.post("/v1/tools/", {"source_code": ROLL}).json()
    agent = create(alice_api, name="helper", tags=["a"])
    r = alice_api.patch(
        f"/v1/agents/{agent['id']}",
        {"name": "renamed", "tags": ["b", "c"], "tool_ids": [tool["id"]], "version": agent["version"]},
    )
    assert r.status_code == 200, r.content
    changed = r.json()
    assert changed["name"] == "renamed" and changed["tags"] == ["b", "c"]
    assert [t["name"] for t in changed["tools"]] == ["roll_dice"] and changed["version"] > agent["version"]

    r = alice_api.patch(f"/v1/agents/{agent['id']}", {"name": "stale"}, HTTP_IF_MATCH=f'"{agent["version"]}"')
    assert r.status_code == 409 and "changed by someone else" in r.json()["detail"]
    assert Agent.objects.get(id=agent["id"]).name == "renamed"
    r = alice_api.patch(f"/v1/agents/{agent['id']}", {"agent_type": "memgpt_agent"})
    assert r.status_code == 422 and "agent_type" in r.json()["detail"]


def test_attach_and_detach_blocks_tools_folders(alice_api):
    agent = create(alice_api, name="helper")
    block = alice_api.post("/v1/blocks/", {"label": "project", "value": "Engram"}).json()
    tool = alice_api.post("/v1/tools/", {"source_code": ROLL}).json()
    folder = alice_api.post("/v1/folders/", {"name": "docs"}).json()
    base = f"/v1/agents/{agent['id']}"

    r = alice_api.patch(f"{base}/core-memory/blocks/attach/{block['id']}")
    assert r.status_code == 200 and "project" in [b["label"] for b in r.json()["blocks"]]
    assert alice_api.get(f"/v1/blocks/{block['id']}/agents").json()[0]["id"] == agent["id"]
    assert alice_api.patch(f"{base}/tools/attach/{tool['id']}").json()["tools"][-1]["name"] == "roll_dice"
    assert [t["name"] for t in alice_api.get(f"{base}/tools", {"limit": 50}).json()].count("roll_dice") == 1
    r = alice_api.patch(f"{base}/folders/attach/{folder['id']}")
    assert [s["name"] for s in r.json()["sources"]] == ["docs"]
    assert alice_api.get(f"/v1/folders/{folder['id']}/agents").json() == [agent["id"]]
    assert [f["id"] for f in alice_api.get(f"{base}/folders").json()] == [folder["id"]]

    assert alice_api.patch(f"{base}/core-memory/blocks/detach/{block['id']}").json()["blocks"] == []
    assert "roll_dice" not in [t["name"] for t in alice_api.patch(f"{base}/tools/detach/{tool['id']}").json()["tools"]]
    assert alice_api.patch(f"{base}/folders/detach/{folder['id']}").json()["sources"] == []
    assert Block.objects.filter(id=block["id"]).exists()  # detaching never deletes the block
    assert alice_api.patch(f"{base}/tools/detach/{tool['id']}").status_code == 404


def test_tool_approval_toggle_and_run_for_agent(alice_api):
    alice_api.post("/v1/tools/", {"source_code": ROLL})
    agent = create(alice_api, name="helper", tools=["roll_dice"])
    base = f"/v1/agents/{agent['id']}"
    r = alice_api.patch(f"{base}/tools/approval/roll_dice", {"requires_approval": True})
    assert {"type": "requires_approval", "tool_name": "roll_dice"} in r.json()["tool_rules"]
    r = alice_api.patch(f"{base}/tools/approval/roll_dice?requires_approval=false")
    assert not [x for x in r.json()["tool_rules"] if x["type"] == "requires_approval"]
    r = alice_api.post(f"{base}/tools/roll_dice/run", {"args": {"sides": 20}})
    assert r.json() == {
        "status": "success",
        "func_return": "20",
        "stdout": [],
        "stderr": [],
        "agent_state": None,
        "sandbox_config_fingerprint": None,
    }
    assert alice_api.post(f"{base}/tools/nothing/run", {"args": {}}).status_code == 404


def test_reset_context_recompile_delete(alice_api):
    agent = create(
        alice_api, name="helper", agent_type="memgpt_v2_agent", memory_blocks=[{"label": "human", "value": "Name: Ada"}]
    )
    base = f"/v1/agents/{agent['id']}"
    assert len(agent["message_ids"]) > 1  # legacy agents start with a boot exchange
    context = alice_api.get(f"{base}/context").json()
    assert "Name: Ada" in context["core_memory"] and context["num_tokens_core_memory"] > 0
    assert context["context_window_size_current"] <= context["context_window_size_max"]
    assert {f["function"]["name"] for f in context["functions_definitions"]} >= {"send_message"}
    assert "Name: Ada" in alice_api.post(f"{base}/recompile", {}).json()

    r = alice_api.patch(f"{base}/reset-messages", {})
    assert r.status_code == 200 and len(r.json()["message_ids"]) == 1
    assert Message.objects.filter(agent_id=agent["id"]).count() == len(agent["message_ids"])  # stored still

    r = alice_api.delete(base)
    assert r.status_code == 200 and r.json()["message"].endswith("successfully deleted")
    assert alice_api.get(base).status_code == 404
    assert Block.objects.filter(label="human").exists()  # blocks outlive agents (they may be shared)


def test_other_organizations_cannot_see_or_touch_an_agent(alice_api, mallory_api):
    tool = alice_api.post("/v1/tools/", {"source_code": ROLL}).json()
    agent = create(alice_api, name="private", tags=["secret"])
    mallory_block = mallory_api.post("/v1/blocks/", {"label": "planted", "value": "x"}).json()
    base = f"/v1/agents/{agent['id']}"
    for method, path, body in [
        ("get", base, None),
        ("patch", base, {"name": "pwned"}),
        ("delete", base, None),
        ("get", f"{base}/context", None),
        ("patch", f"{base}/reset-messages", {}),
        ("patch", f"{base}/tools/detach/{tool['id']}", None),
        ("get", f"{base}/core-memory/blocks", None),
    ]:
        r = getattr(mallory_api, method)(path, body) if body is not None else getattr(mallory_api, method)(path)
        assert r.status_code == 404, (method, path, r.content)
    # alice cannot attach mallory's block either
    assert alice_api.patch(f"{base}/core-memory/blocks/attach/{mallory_block['id']}").status_code == 404
    assert mallory_api.get("/v1/agents/").json() == [] and mallory_api.get("/v1/agents/count").json() == 0
    row = Agent.objects.get(id=agent["id"])
    assert row.name == "private" and AgentTool.objects.filter(agent=row).count() == 3
    assert not AgentBlock.objects.filter(agent=row).exists()
    assert Tool.objects.filter(id=tool["id"]).exists()


def test_model_catalog(alice_api):
    models = alice_api.get("/v1/models/").json()
    assert "engram/scripted" in [m["handle"] for m in models]
    embeddings = alice_api.get("/v1/models/embedding").json()
    assert "local/all-minilm-l6-v2" in [m["handle"] for m in embeddings]
