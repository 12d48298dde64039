"""The official letta-client SDK (1.12.1) against a live Engram server (daphne in a subprocess), with strict
response validation: what a Letta program does after changing only its base URL and key."""

import json
import time

import pytest
from letta_client import Letta, NotFoundError
from letta_client.types import AgentState, BlockResponse, Tool, ToolReturnMessage
from letta_client.types.agents import AssistantMessage, SystemMessage, ToolCallMessage, UserMessage

pytestmark = pytest.mark.django_db(transaction=True)

SHOUT = '''
def shout(text: str) -> str:
    """Say something loudly.

    Args:
        text: What to say.

    Returns:
        str: The text in capitals.
    """
    return text.upper() + "!"
'''


@pytest.fixture
def letta(live_server_url, alice_key):
    with Letta(
        base_url=live_server_url, api_key=alice_key, _strict_response_validation=True, max_retries=0, timeout=60
    ) as client:
        yield client


def make_agent(letta, name="helper", **extra):
    return letta.agents.create(
        name=name,
        model="engram/scripted",
        embedding="local/all-minilm-l6-v2",
        memory_blocks=[
            {"label": "human", "value": "Name: unknown"},
            {"label": "persona", "value": "I am a helpful assistant."},
        ],
        **extra,
    )


def test_health_and_models(letta):
    assert letta.health().status == "ok"
    assert "engram/scripted" in [m.handle for m in letta.models.list()]
    assert "local/all-minilm-l6-v2" in [m.handle for m in letta.models.embeddings.list()]


def test_agent_with_custom_blocks_and_tools_answers_sync(letta, scripted_llm):
    tool = letta.tools.create(source_code=SHOUT, tags=["demo"])
    assert tool.name == "shout" and tool.json_schema["parameters"]["required"] == ["text"]
    agent = make_agent(letta, tools=["shout"], tags=["sdk"], metadata={"purpose": "test"})
    assert isinstance(agent, AgentState) and agent.agent_type == "letta_v1_agent"
    assert [b.label for b in agent.memory.blocks] == ["human", "persona"]
    assert "shout" in [t.name for t in agent.tools] and agent.tags == ["sdk"]

    scripted_llm.queue(
        {"tool_calls": [{"name": "shout", "arguments": {"text": "hello"}}]}, {"text": "I shouted HELLO!"}
    )
    response = letta.agents.messages.create(agent.id, messages=[{"role": "user", "content": "Shout hello"}])
    kinds = [type(m) for m in response.messages]
    assert kinds == [ToolCallMessage, ToolReturnMessage, AssistantMessage]
    assert response.messages[1].tool_return == "HELLO!" and response.messages[1].status == "success"
    assert response.messages[2].content == "I shouted HELLO!"
    assert response.stop_reason.stop_reason == "end_turn" and response.usage.step_count == 2

    history = list(letta.agents.messages.list(agent.id, order="asc"))
    assert [type(m) for m in history] == [
        SystemMessage,
        UserMessage,
        ToolCallMessage,
        ToolReturnMessage,
        AssistantMessage,
    ]
    run = letta.runs.retrieve(response.messages[0].run_id)
    assert run.status == "completed" and run.agent_id == agent.id


def test_streaming_through_the_sdk(letta, scripted_llm):
    agent = make_agent(letta)
    scripted_llm.queue_text("Streaming works fine.")
    chunks = list(
        letta.agents.messages.stream(agent.id, messages=[{"role": "user", "content": "Hi"}], stream_tokens=True)
    )
    types = [c.message_type for c in chunks]
    assert types[0] == "ping" and types[-2:] == ["stop_reason", "usage_statistics"]
    said = "".join(c.content for c in chunks if c.message_type == "assistant_message")
    assert said == "Streaming works fine."

    scripted_llm.queue_text("Step streaming too.")
    stream = letta.agents.messages.create(agent.id, input="Again", streaming=True, include_pings=False)
    whole = [c for c in stream]
    assert [c.message_type for c in whole] == ["assistant_message", "stop_reason", "usage_statistics"]
    assert whole[0].content == "Step streaming too." and whole[0].seq_id == 1

    resumed = list(letta.runs.messages.stream(whole[0].run_id, starting_after=1, include_pings=False))
    assert [c.message_type for c in resumed] == ["stop_reason", "usage_statistics"]


def test_core_memory_read_and_modify(letta):
    agent = make_agent(letta)
    human = letta.agents.blocks.retrieve("human", agent_id=agent.id)
    assert isinstance(human, BlockResponse) and human.value == "Name: unknown"
    changed = letta.agents.blocks.update("human", agent_id=agent.id, value="Name: Ada Lovelace")
    assert changed.value == "Name: Ada Lovelace"
    assert [b.value for b in letta.agents.blocks.list(agent.id) if b.label == "human"] == ["Name: Ada Lovelace"]


def test_shared_block_edit_is_visible_to_both_agents(letta):
    project = letta.blocks.create(label="project", value="Codename: Blue")
    first, second = make_agent(letta, name="first"), make_agent(letta, name="second")
    letta.agents.blocks.attach(project.id, agent_id=first.id)
    letta.agents.blocks.attach(project.id, agent_id=second.id)
    assert sorted(a.id for a in letta.blocks.agents.list(project.id)) == sorted([first.id, second.id])

    letta.agents.blocks.update("project", agent_id=first.id, value="Codename: Green")
    assert letta.agents.blocks.retrieve("project", agent_id=second.id).value == "Codename: Green"
    system = next(iter(letta.agents.messages.list(second.id, order="asc", limit=1)))
    assert isinstance(system, SystemMessage) and "Codename: Green" in system.content


def test_archival_insert_and_search(letta):
    agent = make_agent(letta)
    letta.agents.passages.create(agent.id, text="The office wifi password is hunter2.", tags=["office"])
    letta.agents.passages.create(agent.id, text="Lunch is served at noon on Fridays.")
    found = letta.agents.passages.search(agent.id, query="what is the wifi password")
    assert found.count == 2 and found.results[0].content.startswith("The office wifi")
    assert [p.text[:10] for p in letta.agents.passages.list(agent.id)] == ["The office", "Lunch is s"]


def test_upload_a_file_to_a_folder(letta):
    folder = letta.folders.create(name="handbook")
    uploaded = letta.folders.files.upload(folder.id, file=("handbook.md", b"# Handbook\n\nBe kind. Ship often.\n"))
    assert uploaded.source_id == folder.id
    deadline = time.monotonic() + 30
    while (status := letta.folders.files.retrieve(uploaded.id, folder_id=folder.id).processing_status) not in (
        "completed",
        "error",
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == "completed"
    agent = make_agent(letta)
    letta.agents.folders.attach(folder.id, agent_id=agent.id)
    page = letta.agents.files.list(agent.id)
    assert [f.file_name for f in page.files] == ["handbook.md"]


def test_export_then_import(letta, scripted_llm):
    agent = make_agent(letta, name="exported")
    scripted_llm.queue_text("Nice to meet you.")
    letta.agents.messages.create(agent.id, input="Hello")
    text = letta.agents.export_file(agent.id)
    assert json.loads(text)["agents"][0]["name"] == "exported"
    imported = letta.agents.import_file(file=("exported.af", text.encode()))
    [copy_id] = imported.agent_ids
    copy = letta.agents.retrieve(copy_id)
    assert copy.name == "exported_copy" and [b.value for b in copy.blocks] == [b.value for b in agent.blocks]
    said = [m.content for m in letta.agents.messages.list(copy_id) if isinstance(m, AssistantMessage)]
    assert said == ["Nice to meet you."]


def test_list_pages_and_items_validate_against_sdk_types(letta):
    created = [make_agent(letta, name=f"paged {i}", tags=["paged"]).id for i in range(7)]
    seen = [a.id for a in letta.agents.list(tags=["paged"], limit=3)]  # auto-pagination across 3 pages
    assert seen == created[::-1]
    raw = letta.agents.with_raw_response.list(tags=["paged"], limit=50)
    for item in json.loads(raw.http_response.text):
        AgentState.model_validate(item, strict=False)
        assert item["message_ids"] and item["memory"]["blocks"]
    for item in json.loads(letta.tools.with_raw_response.list().http_response.text):
        Tool.model_validate(item)
    for item in json.loads(letta.blocks.with_raw_response.list().http_response.text):
        BlockResponse.model_validate(item)


def test_delete_and_other_organizations(letta, live_server_url, mallory):
    from accounts.actions import create_api_key

    agent = make_agent(letta, name="doomed")
    with Letta(base_url=live_server_url, api_key=create_api_key(mallory)[1], max_retries=0) as intruder:
        with pytest.raises(NotFoundError):
            intruder.agents.retrieve(agent.id)
        with pytest.raises(NotFoundError):
            intruder.agents.delete(agent.id)
        assert list(intruder.agents.list()) == []
    letta.agents.delete(agent.id)
    with pytest.raises(NotFoundError):
        letta.agents.retrieve(agent.id)


def test_tokens_arrive_while_the_model_is_still_answering(letta, scripted_llm):
    """The stream is live, not buffered: the first token chunk reaches the client while the run is running."""
    from agents.models import Run

    agent = make_agent(letta)
    scripted_llm.queue({"text": "one two three four five six seven eight", "pace_ms": 250})
    stream = letta.agents.messages.stream(agent.id, input="count", stream_tokens=True)
    statuses = []
    for chunk in stream:
        if chunk.message_type == "assistant_message" and not statuses:
            statuses.append(Run.objects.get(id=chunk.run_id).status)
    assert statuses == ["running"]
    assert Run.objects.get(agent_id=agent.id).status == "completed"
