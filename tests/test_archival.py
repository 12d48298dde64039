"""Archival memory: insert, semantic search with tag and date filters applied before the limit, pagination."""

from datetime import UTC, datetime

import numpy as np
import pytest

from ade.errors import Invalid, NotFound
from agents.models import Agent
from memory.actions import Actor, create_passages
from memory.archival import default_archive, delete_archival, insert_archival, list_archival, search_archival
from memory.embeddings import EmbeddingError, embed, model_name
from memory.models import Archive, Passage
from tools.actions import ensure_base_tools
from tools.executor import execute_tool

DISTRACTORS = [
    "The budget review meeting moved to Friday afternoon.",
    "Remember to water the tomato plants every morning.",
    "Her favourite band released a new album last week.",
    "The quarterly report is due at the end of the month.",
    "Our team standup happens daily at nine thirty.",
    "He prefers green tea over coffee in the evening.",
    "The train to Porto leaves from platform four.",
    "The database migration finished without errors.",
    "A new bakery opened around the corner from the office.",
    "The marketing offsite is planned for the autumn.",
    "She is learning to play the cello on weekends.",
    "The dentist appointment was rescheduled to Tuesday.",
    "Server costs went up after the traffic spike.",
    "The book club is reading a novel about sailing.",
    "Our landlord will repair the heating next week.",
    "The hiring panel interviews two candidates tomorrow.",
    "The cat knocked a glass off the kitchen table.",
    "The conference badge must be collected at the front desk.",
    "The garden fence needs a fresh coat of paint.",
    "The design review highlighted accessibility problems.",
]


def make_agent(org, **fields) -> Agent:
    return Agent.objects.create(
        organization=org,
        name=fields.pop("name", "ada"),
        llm_config={"model": "scripted", "context_window": 8000},
        **fields,
    )


def agent_actor(agent):
    return Actor.agent(agent, "archival_memory_insert")


def bulk_load(agent, count: int, *, seed: int = 3):
    """`count` passages near real sentence embeddings: MiniLM runs on 20 texts only, so the test stays quick."""
    base = embed(DISTRACTORS, agent.embedding_config)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(DISTRACTORS), count)
    vectors = base[picks] + 0.05 * rng.standard_normal((count, base.shape[1])).astype(np.float32)
    texts = [f"{DISTRACTORS[i]} (note {n})" for n, i in enumerate(picks)]
    create_passages(
        agent.organization,
        texts,
        vectors,
        embedding_model=model_name(agent.embedding_config),
        archive=default_archive(agent),
    )


def test_insert_then_search_finds_the_passage_among_a_thousand_others(org):
    agent = make_agent(org)
    bulk_load(agent, 1000)
    target = insert_archival(
        agent, "The Engram launch meeting is on 2024-03-15 in Lisbon.", ["meetings"], actor=agent_actor(agent)
    )

    results = search_archival(agent, "When and where is the launch meeting?", top_k=5)

    assert len(results) == 5
    assert results[0]["id"] == target.id
    assert results[0]["content"] == "The Engram launch meeting is on 2024-03-15 in Lisbon."
    assert results[0]["tags"] == ["meetings"]
    assert Passage.objects.filter(archive__agents=agent).count() == 1001


def test_insert_creates_one_default_archive_and_records_the_model(org):
    agent = make_agent(org)
    first = insert_archival(agent, "one", actor=agent_actor(agent))
    second = insert_archival(agent, "two", ["a", "a", " b "], actor=agent_actor(agent))
    assert first.archive_id == second.archive_id
    assert list(agent.archives.values_list("id", flat=True)) == [first.archive_id]
    assert first.embedding_model == "local/all-minilm-l6-v2" and first.embedding_dim == 384
    assert second.tags == ["a", "b"]


def test_a_failed_embedding_writes_nothing(org, scripted_llm):
    from agents.runtime.providers import resolve_embedding

    agent = make_agent(org, embedding_config=resolve_embedding("engram/scripted-embed"))
    scripted_llm.queue({"endpoint": "embeddings", "error": {"status": 400, "message": "nope"}, "repeat": 5})
    with pytest.raises(EmbeddingError):
        insert_archival(agent, "lost", actor=agent_actor(agent))
    assert not Archive.objects.exists() and not Passage.objects.exists()


def test_provider_embeddings_are_used_for_insert_and_search(org, scripted_llm):
    from agents.runtime.providers import resolve_embedding

    agent = make_agent(org, embedding_config=resolve_embedding("engram/scripted-embed"))
    insert_archival(agent, "Ada likes green tea", actor=agent_actor(agent))
    insert_archival(agent, "The server runs on port 8000", actor=agent_actor(agent))
    assert search_archival(agent, "green tea", top_k=1)[0]["content"] == "Ada likes green tea"
    assert len(scripted_llm.requests("embeddings")) == 3


def test_an_agent_only_searches_with_its_own_model(org):
    agent = make_agent(org)
    insert_archival(agent, "Ada likes green tea", actor=agent_actor(agent))
    create_passages(
        org,
        ["Ada likes green tea (other model)"],
        embed(["Ada likes green tea"], {}),
        embedding_model="openai/text-embedding-3-small",
        archive=default_archive(agent),
    )
    assert [r["content"] for r in search_archival(agent, "green tea", top_k=10)] == ["Ada likes green tea"]


def test_tags_any_and_all_filter_before_the_limit(org):
    agent = make_agent(org)
    bulk_load(agent, 200)
    insert_archival(agent, "Sprint planning notes for the mobile app.", ["projects"], actor=agent_actor(agent))
    tagged = insert_archival(
        agent, "Met the accountant about taxes.", ["meetings", "finance"], actor=agent_actor(agent)
    )

    # The nearest passages are untagged distractors; the filter must run before top_k, not after.
    found = search_archival(agent, "budget review meeting", tags=["finance"], top_k=1)
    assert [r["id"] for r in found] == [tagged.id]
    assert search_archival(agent, "taxes", tags=["meetings", "x"], tag_match_mode="all") == []
    assert [r["id"] for r in search_archival(agent, "taxes", tags=["meetings", "x"], tag_match_mode="any")] == [
        tagged.id
    ]
    assert [r["id"] for r in search_archival(agent, "taxes", tags=["meetings", "finance"], tag_match_mode="all")] == [
        tagged.id
    ]
    assert len(search_archival(agent, "notes", tags=["projects", "meetings"], top_k=10)) == 2


def test_date_range_with_date_only_bounds_in_the_agents_timezone(org):
    agent = make_agent(org, timezone="America/New_York")
    late_evening = insert_archival(
        agent, "Launch retro notes", actor=agent_actor(agent), created_at=datetime(2024, 3, 15, 3, 0, tzinfo=UTC)
    )  # 14 March, 23:00 in New York
    plan = insert_archival(
        agent, "Launch plan notes", actor=agent_actor(agent), created_at=datetime(2023, 6, 1, 12, 0, tzinfo=UTC)
    )

    def ids(**bounds):
        return [r["id"] for r in search_archival(agent, "launch notes", top_k=10, **bounds)]

    assert ids(end_datetime="2024-01-01") == [plan.id]
    assert ids(start_datetime="2024-03-14", end_datetime="2024-03-14") == [late_evening.id]
    assert ids(start_datetime="2024-03-15") == []
    assert ids(start_datetime="2024-03-15T00:00:00+00:00") == [late_evening.id]
    assert len(ids()) == 2
    result = search_archival(agent, "retro", top_k=1)[0]
    assert result["timestamp"] == "2024-03-14T23:00:00-04:00"


def test_bad_search_input(org):
    agent = make_agent(org)
    assert search_archival(agent, "   ") == []
    with pytest.raises(Invalid) as info:
        search_archival(agent, "x", start_datetime="last tuesday")
    assert str(info.value) == (
        "Invalid start_datetime format: last tuesday. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
    )
    with pytest.raises(Invalid, match="tag_match_mode"):
        search_archival(agent, "x", tag_match_mode="some")
    with pytest.raises(Invalid, match="top_k"):
        search_archival(agent, "x", top_k=0)
    with pytest.raises(Invalid, match="content must not be empty"):
        insert_archival(agent, "  ", actor=agent_actor(agent))


def test_list_pages_through_passages_by_cursor(org):
    agent = make_agent(org)
    made = [
        insert_archival(agent, f"note {i}", actor=agent_actor(agent), created_at=datetime(2024, 1, i + 1, tzinfo=UTC))
        for i in range(5)
    ]
    ids = [p.id for p in made]

    first = list_archival(agent, limit=2)
    assert [p.id for p in first] == ids[:2]
    assert [p.id for p in list_archival(agent, after=first[-1].id, limit=2)] == ids[2:4]
    assert [p.id for p in list_archival(agent, before=ids[3])] == ids[:3]
    assert [p.id for p in list_archival(agent, ascending=False, limit=2)] == [ids[4], ids[3]]
    assert [p.id for p in list_archival(agent, ascending=False, after=ids[3])] == ids[:3][::-1]
    assert [p.text for p in list_archival(agent, search="NOTE 3")] == ["note 3"]
    with pytest.raises(Invalid, match="after"):
        list_archival(agent, after="passage-nope")


def test_delete_is_scoped_to_the_agent(org):
    agent, other = make_agent(org), make_agent(org, name="other")
    mine = insert_archival(agent, "mine", actor=agent_actor(agent))
    theirs = insert_archival(other, "theirs", actor=agent_actor(other))
    with pytest.raises(NotFound):
        delete_archival(agent, theirs.id)
    delete_archival(agent, mine.id)
    assert list(Passage.objects.values_list("id", flat=True)) == [theirs.id]


def test_the_archival_tools(org):
    agent = make_agent(org)
    tools = ensure_base_tools(org)
    inserted = execute_tool(
        agent, tools["archival_memory_insert"], {"content": "Ada's birthday is 10 December.", "tags": ["people"]}
    )
    assert (inserted.status, inserted.func_return) == ("success", "None")
    found = execute_tool(agent, tools["archival_memory_search"], {"query": "When is Ada's birthday?"})
    assert found.status == "success"
    assert found.func_return.startswith("[{'id': 'passage-")  # a list: shown to the model as its repr
    assert "'content': \"Ada's birthday is 10 December.\"" in found.func_return
    bad = execute_tool(agent, tools["archival_memory_search"], {"query": "x", "end_datetime": "soon"})
    assert (bad.status, bad.func_return) == (
        "error",
        "Invalid end_datetime format: soon. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)",
    )


def test_inserting_updates_the_memory_metadata_in_the_system_prompt(org):
    from agents.models import Message

    agent = make_agent(org)
    system = Message.objects.create(
        organization=org, agent=agent, role="system", content=[{"type": "text", "text": "stale"}]
    )
    agent.message_ids = [system.id]
    agent.save()
    insert_archival(agent, "Meeting on 2024-03-15 about the launch", ["meetings"], actor=agent_actor(agent))
    system.refresh_from_db()
    assert "- 1 total memories you created are stored in archival memory" in system.text
    assert "- Available archival memory tags: meetings" in system.text
