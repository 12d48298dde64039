"""File windows, compaction on request, the org-wide message list and search, and tool search, through the SDK
against a live server with strict validation."""

import time

import pytest
from letta_client import BadRequestError, Letta, NotFoundError

from tests.test_sdk import SHOUT, letta, make_agent  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def _uploaded(letta, folder_id, name, text):  # noqa: F811
    file = letta.folders.files.upload(folder_id, file=(name, text.encode()))
    deadline = time.monotonic() + 30
    while letta.folders.files.retrieve(file.id, folder_id=folder_id).processing_status != "completed":
        assert time.monotonic() < deadline, "ingestion did not finish"
        time.sleep(0.1)
    return file


def _system_text(letta, agent_id):  # noqa: F811
    return next(iter(letta.agents.messages.list(agent_id, order="asc", limit=1))).content


def test_open_close_and_close_all_files(letta):  # noqa: F811
    folder = letta.folders.create(name="docs")
    first = _uploaded(letta, folder.id, "alpha.md", "# Alpha\n\nThe alpha secret is 42.\n")
    second = _uploaded(letta, folder.id, "beta.md", "# Beta\n\nBeta line.\n")
    agent = make_agent(letta)
    letta.agents.folders.attach(folder.id, agent_id=agent.id)
    assert "The alpha secret is 42." in _system_text(letta, agent.id)

    letta.agents.files.close(first.id, agent_id=agent.id)
    assert "The alpha secret is 42." not in _system_text(letta, agent.id)
    state = {f.file_name: f.is_open for f in letta.agents.files.list(agent.id).files}
    assert state == {"alpha.md": False, "beta.md": True}

    assert letta.agents.files.open(first.id, agent_id=agent.id) == []
    assert "The alpha secret is 42." in _system_text(letta, agent.id)
    closed = letta.agents.files.close_all(agent.id)
    assert sorted(closed) == ["docs/alpha.md", "docs/beta.md"]
    assert not any(f.is_open for f in letta.agents.files.list(agent.id).files)

    other = make_agent(letta, name="other")
    with pytest.raises(NotFoundError, match="not attached"):
        letta.agents.files.open(second.id, agent_id=other.id)


def test_compact_on_request_keeps_messages_searchable(letta, scripted_llm):  # noqa: F811
    agent = make_agent(letta)
    with pytest.raises(BadRequestError, match="Nothing to compact"):
        letta.agents.messages.compact(agent.id)
    for i in range(3):
        scripted_llm.queue_text(f"Reply number {i}.")
        letta.agents.messages.create(agent.id, input=f"Tell me about topic {i}, the zebra fact.")
    before = len(letta.agents.retrieve(agent.id).message_ids)
    scripted_llm.queue_text("The user asked about three topics and zebras.")
    result = letta.agents.messages.compact(agent.id, compaction_settings={"mode": "all"})
    assert result.summary == "The user asked about three topics and zebras."
    assert result.num_messages_before == before and result.num_messages_after < before
    assert len(letta.agents.retrieve(agent.id).message_ids) == result.num_messages_after
    assert "Reply number 0." in [getattr(m, "content", None) for m in letta.agents.messages.list(agent.id)]


def test_org_wide_message_list_and_search(letta, live_server_url, mallory, scripted_llm):  # noqa: F811
    from accounts.actions import create_api_key

    first, second = make_agent(letta, name="first"), make_agent(letta, name="second")
    scripted_llm.queue_text("Penguins live in the southern hemisphere.")
    letta.agents.messages.create(first.id, input="Where do penguins live?")
    scripted_llm.queue_text("Bread needs flour, water and yeast.")
    letta.agents.messages.create(second.id, input="How do I bake bread?")

    everything = list(letta.messages.list(limit=100))
    assert {m.id for m in everything} >= {m.id for m in letta.agents.messages.list(first.id)}
    assert {m.id for m in everything} >= {m.id for m in letta.agents.messages.list(second.id)}

    words = letta.messages.search(query="penguins", search_mode="fts")
    assert {(r.message_type, r.agent_id) for r in words} == {
        ("user_message", first.id),
        ("assistant_message", first.id),
    }
    meaning = letta.messages.search(query="baking a loaf with yeast", search_mode="vector", limit=2)
    assert meaning[0].agent_id == second.id
    both = letta.messages.search(query="penguins", search_mode="hybrid", limit=3)
    assert both[0].agent_id == first.id and "enguin" in both[0].content
    only_second = letta.messages.search(query="penguins", search_mode="fts", agent_id=second.id)
    assert only_second == []

    thread = letta.conversations.create(agent_id=first.id)
    scripted_llm.queue_text("Emperor penguins are the tallest.")
    list(letta.conversations.messages.create(thread.id, input="Which penguins are tallest?", include_pings=False))
    in_thread = letta.messages.search(query="penguins", search_mode="fts", conversation_id=thread.id)
    assert {r.content for r in in_thread} == {"Which penguins are tallest?", "Emperor penguins are the tallest."}
    assert {r.conversation_id for r in in_thread} == {thread.id}
    listed = list(letta.messages.list(conversation_id=thread.id))
    assert listed and {m.id for m in listed} <= {r.message_id for r in in_thread}

    with Letta(base_url=live_server_url, api_key=create_api_key(mallory)[1], max_retries=0) as intruder:
        assert list(intruder.messages.list()) == []
        assert intruder.messages.search(query="penguins", search_mode="fts") == []
        with pytest.raises(NotFoundError):
            intruder.messages.search(query="penguins", agent_id=first.id)


def test_tool_search(letta):  # noqa: F811
    letta.tools.create(source_code=SHOUT, tags=["voice"])
    by_words = letta.tools.search(query="loudly", search_mode="fts")
    assert [r.tool.name for r in by_words] == ["shout"] and by_words[0].fts_rank == 1
    by_meaning = letta.tools.search(query="say something in capital letters", search_mode="vector", limit=3)
    assert by_meaning[0].tool.name == "shout" and by_meaning[0].vector_rank == 1
    hybrid = letta.tools.search(query="shout", limit=5)
    assert hybrid[0].tool.name == "shout" and hybrid[0].fts_rank == 1 and hybrid[0].combined_score > 0
    assert [r.tool.name for r in letta.tools.search(query="shout", tags=["nope"])] == []
