"""Archival search by words (PostgreSQL full text / SQLite FTS5) and hybrid (meaning and words fused by reciprocal
rank): what vector search alone misses, filters before the limit, the index kept in step, the API's search_mode."""

import pytest

from ade.errors import Invalid
from memory.archival import delete_archival, insert_archival, search_archival
from memory.fulltext import terms
from memory.models import Passage
from tests.test_archival import DISTRACTORS, agent_actor, make_agent

pytestmark = pytest.mark.django_db

# Facts whose key is a rare name or a date: words matter more than meaning here.
FACTS = [
    "Quillon Marsh signed the lease for the studio on 14 March.",
    "The studio lease renewal is handled by the landlord's agent.",
    "Marsh reeds grow along the river bank near the studio.",
]


def load(agent, texts, tags=None):
    return [insert_archival(agent, text, tags, actor=agent_actor(agent)) for text in texts]


def contents(results):
    return [r["content"] for r in results]


def test_full_text_finds_the_rare_name_and_hybrid_keeps_it_first(org):
    agent = make_agent(org)
    load(agent, DISTRACTORS + FACTS)
    question = "Who is Quillon?"
    assert contents(search_archival(agent, question, top_k=1, search_mode="fts")) == [FACTS[0]]
    assert contents(search_archival(agent, question, top_k=3, search_mode="hybrid"))[0] == FACTS[0]
    # Stemming: "signing" finds "signed".
    assert FACTS[0] in contents(search_archival(agent, "signing leases", top_k=2, search_mode="fts"))
    # No shared word: full text finds nothing, vector search still answers.
    assert search_archival(agent, "xylophone zebra", search_mode="fts") == []
    assert len(search_archival(agent, "xylophone zebra", top_k=3, search_mode="vector")) == 3


def test_filters_apply_before_the_limit_and_other_agents_stay_out(org):
    agent, other = make_agent(org), make_agent(org, name="other")
    load(agent, FACTS[:1], tags=["people"])
    load(agent, FACTS[1:], tags=["places"])
    load(other, ["Quillon Marsh owns a boat."])
    found = search_archival(agent, "Quillon Marsh studio", top_k=1, tags=["places"], search_mode="fts")
    assert contents(found) == [FACTS[2]] or contents(found) == [FACTS[1]]
    for mode in ("fts", "hybrid"):
        assert "Quillon Marsh owns a boat." not in contents(
            search_archival(agent, "Quillon boat", top_k=5, search_mode=mode)
        )


def test_the_index_follows_deletes_and_edits(org):
    agent = make_agent(org)
    first, second = load(agent, FACTS[:2])
    delete_archival(agent, first.id)
    assert search_archival(agent, "Quillon", search_mode="fts") == []
    Passage.objects.filter(id=second.id).update(text="Quillon moved out in May.")
    assert contents(search_archival(agent, "Quillon", search_mode="fts")) == ["Quillon moved out in May."]


def test_bad_modes_and_odd_queries(org):
    agent = make_agent(org)
    load(agent, FACTS)
    with pytest.raises(Invalid) as raised:
        search_archival(agent, "x", search_mode="magic")
    assert raised.value.field == "search_mode"
    # Query syntax of either engine is just words here.
    for query in ('"studio" OR NEAR(lease', "lease & !studio | (", "'; DROP TABLE memory_passage; --"):
        search_archival(agent, query, search_mode="fts")
    assert terms("The Studio's LEASE, the studio!") == ["the", "studio", "lease"]


def test_the_api_takes_search_mode(alice, alice_api):
    agent = alice_api.post("/v1/agents/", {"model": "engram/scripted", "embedding": "local/all-minilm-l6-v2"}).json()
    for text in FACTS:
        alice_api.post(f"/v1/agents/{agent['id']}/archival-memory", {"text": text})
    url = f"/v1/agents/{agent['id']}/archival-memory/search"
    found = alice_api.get(url, {"query": "Quillon", "search_mode": "fts", "top_k": 1}).json()
    assert [r["content"] for r in found["results"]] == [FACTS[0]]
    bad = alice_api.get(url, {"query": "Quillon", "search_mode": "magic"})
    assert bad.status_code == 422 and "search_mode" in bad.json()["detail"]
