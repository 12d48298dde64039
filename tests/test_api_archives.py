"""Shared archives through the SDK against a live server (strict validation): several agents attach one archive and
search it like their own; their own inserts stay in their own archive; other organizations see nothing."""

import pytest
from letta_client import BadRequestError, Letta, NotFoundError

from tests.test_sdk import letta, make_agent  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_archive_crud_and_passages(letta):  # noqa: F811
    archive = letta.archives.create(name="handbook", description="Company rules", embedding="local/all-minilm-l6-v2")
    assert archive.name == "handbook" and archive.embedding_config.embedding_model
    assert letta.archives.retrieve(archive.id).description == "Company rules"
    renamed = letta.archives.update(archive.id, name="rules")
    assert renamed.name == "rules" and [a.id for a in letta.archives.list(name="rules")] == [archive.id]

    one = letta.archives.passages.create(archive.id, text="Expenses are filed by Friday.", tags=["money"])
    assert one.archive_id == archive.id and one.tags == ["money"]
    many = letta.archives.passages.create_many(
        archive.id, passages=[{"text": "The office opens at 8."}, {"text": "Parking is on level 2."}]
    )
    assert [p.text for p in many] == ["The office opens at 8.", "Parking is on level 2."]

    found = letta.passages.search(query="when do I file expenses", archive_id=archive.id, limit=2)
    assert found[0].passage.id == one.id and found[0].score > found[1].score
    tagged = letta.passages.search(query="office", archive_id=archive.id, tags=["money"])
    assert [r.passage.id for r in tagged] == [one.id]

    letta.archives.passages.delete(one.id, archive_id=archive.id)
    assert one.id not in [r.passage.id for r in letta.passages.search(query="expenses", archive_id=archive.id)]
    with pytest.raises(NotFoundError):
        letta.archives.passages.delete(one.id, archive_id=archive.id)

    letta.archives.delete(archive.id)
    with pytest.raises(NotFoundError):
        letta.archives.retrieve(archive.id)


def test_agents_share_an_attached_archive(letta, scripted_llm):  # noqa: F811
    shared = letta.archives.create(name="shared", embedding="local/all-minilm-l6-v2")
    letta.archives.passages.create(shared.id, text="The launch code name is Bluebird.")
    first = make_agent(letta, name="first")
    second = make_agent(letta, name="second", tools=["archival_memory_search"])
    for agent in (first, second):
        letta.agents.archives.attach(shared.id, agent_id=agent.id)
    assert sorted(a.id for a in letta.archives.list(agent_id=first.id)) == sorted(
        [shared.id, *[a.id for a in letta.archives.list(agent_id=first.id) if a.id != shared.id]]
    )

    # Each agent finds the shared passage with its own archival search, and through the org-wide search.
    for agent in (first, second):
        hits = letta.agents.passages.search(agent.id, query="launch code name")
        assert hits.results[0].content == "The launch code name is Bluebird."
    via_agent = letta.passages.search(query="launch code", agent_id=second.id)
    assert via_agent[0].passage.archive_id == shared.id

    # An agent's own insert goes to its own archive, not the shared one.
    letta.agents.passages.create(first.id, text="My private note about lunch.")
    shared_texts = [r.passage.text for r in letta.passages.search(query="lunch", archive_id=shared.id)]
    assert "My private note about lunch." not in shared_texts
    assert "My private note about lunch." not in [p.text for p in letta.agents.passages.list(second.id)]

    # The model sees the shared passage through archival_memory_search.
    scripted_llm.queue(
        {"tool_calls": [{"name": "archival_memory_search", "arguments": {"query": "launch code name"}}]},
        {"text": "It is Bluebird."},
    )
    letta.agents.messages.create(second.id, input="What is the launch code name?")
    tool_return = scripted_llm.requests()[-1]["messages"][-1]["content"]
    assert "Bluebird" in tool_return

    letta.agents.archives.detach(shared.id, agent_id=second.id)
    assert letta.agents.passages.search(second.id, query="launch code name").count == 0
    assert letta.agents.passages.search(first.id, query="launch code name").count >= 1


def test_archive_of_another_model_or_org_is_refused(letta, live_server_url, mallory):  # noqa: F811
    from accounts.actions import create_api_key

    agent = make_agent(letta)
    other_model = letta.archives.create(
        name="other",
        embedding_config={
            "embedding_endpoint_type": "openai",
            "embedding_model": "text-embedding-3-small",
            "embedding_dim": 1536,
        },
    )
    with pytest.raises(BadRequestError, match="cannot be compared"):
        letta.agents.archives.attach(other_model.id, agent_id=agent.id)

    archive = letta.archives.create(name="private", embedding="local/all-minilm-l6-v2")
    letta.archives.passages.create(archive.id, text="Secret plans.")
    with Letta(base_url=live_server_url, api_key=create_api_key(mallory)[1], max_retries=0) as intruder:
        with pytest.raises(NotFoundError):
            intruder.archives.retrieve(archive.id)
        assert list(intruder.archives.list()) == []
        assert intruder.passages.search(query="plans") == []
        with pytest.raises(NotFoundError):
            intruder.passages.search(query="plans", archive_id=archive.id)
        mine = intruder.agents.create(name="m", model="engram/scripted", embedding="local/all-minilm-l6-v2")
        with pytest.raises(NotFoundError):
            intruder.agents.archives.attach(archive.id, agent_id=mine.id)
