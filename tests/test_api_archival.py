"""/v1 archival memory of an agent: insert, list with cursors, semantic search with filters, delete, scoping."""

import pytest

from memory.models import Passage


@pytest.fixture
def agent(org):
    from agents.models import Agent
    from agents.runtime.providers import resolve_embedding

    return Agent.objects.create(
        organization=org,
        name="librarian",
        llm_config={"model": "scripted", "model_endpoint_type": "openai", "context_window": 8000},
        embedding_config=resolve_embedding("local/all-minilm-l6-v2"),
    )


def insert(api, agent, text, tags=None):
    r = api.post(f"/v1/agents/{agent.id}/archival-memory", {"text": text, **({"tags": tags} if tags else {})})
    assert r.status_code == 200, r.content
    [passage] = r.json()
    return passage


def test_insert_list_search_delete(alice_api, agent):
    cat = insert(alice_api, agent, "My cat Tom likes to sleep on the sofa.", ["pets"])
    insert(alice_api, agent, "The quarterly budget meeting is on Friday.", ["work"])
    insert(alice_api, agent, "Tom the cat was born in March 2019.", ["pets", "dates"])
    assert cat["text"].startswith("My cat") and cat["tags"] == ["pets"] and cat["archive_id"]

    listed = alice_api.get(f"/v1/agents/{agent.id}/archival-memory").json()
    assert [p["text"][:6] for p in listed] == ["My cat", "The qu", "Tom th"]
    after = alice_api.get(f"/v1/agents/{agent.id}/archival-memory", {"after": listed[0]["id"], "limit": 1}).json()
    assert [p["id"] for p in after] == [listed[1]["id"]]

    found = alice_api.get(f"/v1/agents/{agent.id}/archival-memory/search", {"query": "when was the cat born"}).json()
    assert found["count"] == 3 and found["results"][0]["content"].startswith("Tom the cat was born")
    assert isinstance(found["results"][0]["timestamp"], str)
    pets = alice_api.get(
        f"/v1/agents/{agent.id}/archival-memory/search", {"query": "meeting", "tags": ["pets"], "top_k": 5}
    ).json()
    assert {r["content"][:3] for r in pets["results"]} == {"My ", "Tom"}
    both = alice_api.get(
        f"/v1/agents/{agent.id}/archival-memory/search",
        {"query": "cat", "tags": ["pets", "dates"], "tag_match_mode": "all"},
    ).json()
    assert [r["content"][:3] for r in both["results"]] == ["Tom"]

    r = alice_api.delete(f"/v1/agents/{agent.id}/archival-memory/{cat['id']}")
    assert r.status_code == 200 and not Passage.objects.filter(id=cat["id"]).exists()
    assert alice_api.delete(f"/v1/agents/{agent.id}/archival-memory/{cat['id']}").status_code == 404


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({}, 422, "query"),
        ({"query": "x", "top_k": 0}, 422, "top_k"),
        ({"query": "x", "tag_match_mode": "some"}, 422, "tag_match_mode"),
        ({"query": "x", "start_datetime": "yesterday"}, 400, "start_datetime"),
    ],
)
def test_bad_search_parameters(alice_api, agent, params, status, word):
    r = alice_api.get(f"/v1/agents/{agent.id}/archival-memory/search", params)
    assert r.status_code == status and word in r.json()["detail"]


def test_empty_or_oversized_text_is_refused(alice_api, agent):
    assert alice_api.post(f"/v1/agents/{agent.id}/archival-memory", {"text": ""}).status_code == 422
    assert alice_api.post(f"/v1/agents/{agent.id}/archival-memory", {"text": "x", "tags": "pets"}).status_code == 422
    assert not Passage.objects.exists()


def test_archival_memory_of_another_organization_is_404(alice_api, mallory_api, agent):
    passage = insert(alice_api, agent, "The vault code is 1234.")
    assert mallory_api.get(f"/v1/agents/{agent.id}/archival-memory").status_code == 404
    assert mallory_api.post(f"/v1/agents/{agent.id}/archival-memory", {"text": "planted"}).status_code == 404
    assert mallory_api.get(f"/v1/agents/{agent.id}/archival-memory/search", {"query": "vault"}).status_code == 404
    assert mallory_api.delete(f"/v1/agents/{agent.id}/archival-memory/{passage['id']}").status_code == 404
    assert list(Passage.objects.values_list("text", flat=True)) == ["The vault code is 1234."]
