"""Editing an archival passage (#15 item 17): new text is embedded again and found by meaning and by words (the old
text no longer is), tags move with it, a stale edit is refused; search results carry their scores; the list filters
by tag and date. Also the API (PATCH, Engram-only) and the ADE's edit form."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.actions import create_api_key, create_user
from ade.errors import Conflict, Invalid, NotFound
from memory.actions import Actor
from memory.archival import edit_passage, insert_archival, list_archival, rank_archival, search_archival
from memory.models import Passage, PassageTag
from tests.apiclient import ApiClient
from tests.test_archival import DISTRACTORS, make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(org):
    agent = make_agent(org)
    for text in DISTRACTORS[:8]:
        _insert(agent, text, ["misc"])
    return agent


def _insert(agent, text, tags=(), when=None):
    return insert_archival(agent, text, list(tags), actor=Actor.user(None), created_at=when)


def test_new_text_is_embedded_again_and_indexed_for_words(agent):
    passage = _insert(agent, "The violin lesson is on Thursday evening.", ["music"])
    old_vector = Passage.objects.get(id=passage.id).embedding.copy()
    edited = edit_passage(agent, passage.id, text="Pelicans migrate south across the lagoon.", expected_version=1)
    assert edited.version == 2
    row = Passage.objects.get(id=passage.id)
    assert row.text == "Pelicans migrate south across the lagoon."
    assert row.tags == ["music"]  # left out = kept
    assert not (row.embedding == old_vector).all()
    for mode in ("vector", "fts", "hybrid"):
        found = search_archival(agent, "pelicans lagoon birds", top_k=1, search_mode=mode)
        assert found[0]["id"] == passage.id, mode
    assert search_archival(agent, "violin", top_k=5, search_mode="fts") == []


def test_tags_are_replaced_and_filter_search_and_list(agent):
    passage = _insert(agent, "Invoices are paid on the first of the month.", ["finance", "old"])
    edit_passage(agent, passage.id, tags=["billing", " finance ", ""])
    assert sorted(PassageTag.objects.filter(passage_id=passage.id).values_list("tag", flat=True)) == [
        "billing",
        "finance",
    ]
    assert [p.id for p in list_archival(agent, tags=["billing"])] == [passage.id]
    assert list_archival(agent, tags=["old"]) == []
    hits = rank_archival(agent, "when are invoices paid", tags=["billing"], top_k=5)
    assert [h.passage.id for h in hits] == [passage.id]


def test_a_stale_edit_is_refused_and_writes_nothing(agent):
    passage = _insert(agent, "The office opens at eight.")
    edit_passage(agent, passage.id, text="The office opens at nine.", expected_version=1)
    with pytest.raises(Conflict) as refused:
        edit_passage(agent, passage.id, text="The office opens at seven.", tags=["x"], expected_version=1)
    assert refused.value.current.version == 2
    row = Passage.objects.get(id=passage.id)
    assert (row.text, row.tags, row.version) == ("The office opens at nine.", [], 2)
    # without a version the edit applies to the current row; an edit that changes nothing is not a new version
    assert edit_passage(agent, passage.id, tags=["hours"]).version == 3
    assert edit_passage(agent, passage.id, text="The office opens at nine.", tags=["hours"]).version == 3


def test_bad_edits_are_refused(agent, org):
    passage = _insert(agent, "Lunch is at noon.")
    with pytest.raises(Invalid) as empty:
        edit_passage(agent, passage.id, text="   ")
    assert empty.value.field == "text"
    with pytest.raises(Invalid):
        edit_passage(agent, passage.id, tags="not-a-list")
    other = make_agent(org, name="other")
    with pytest.raises(NotFound):
        edit_passage(other, passage.id, text="taken over")
    assert Passage.objects.get(id=passage.id).text == "Lunch is at noon."


def test_search_hits_carry_their_scores(agent):
    target = _insert(agent, "Our cat Miso sleeps on the radiator all winter.")
    vector = rank_archival(agent, "where does the cat Miso sleep", top_k=5, search_mode="vector")
    assert vector[0].passage.id == target.id
    sims = [h.similarity for h in vector]
    assert sims == sorted(sims, reverse=True) and all(-1.0 <= s <= 1.0 for s in sims)
    assert all(h.fused is None and h.ranks["meaning"] == i + 1 for i, h in enumerate(vector))
    hybrid = rank_archival(agent, "where does the cat Miso sleep", top_k=5, search_mode="hybrid")
    assert hybrid[0].passage.id == target.id
    assert hybrid[0].ranks == {"meaning": 1, "words": 1}
    assert hybrid[0].fused == pytest.approx(2 / 61)
    words = rank_archival(agent, "Miso radiator", top_k=5, search_mode="fts")
    assert [(h.passage.id, h.similarity, h.ranks) for h in words] == [(target.id, None, {"words": 1})]


def test_list_filters_by_date_range(agent):
    old = _insert(agent, "Kickoff notes.", when=datetime(2025, 3, 2, 10, tzinfo=UTC))
    _insert(agent, "Retro notes.", when=datetime(2025, 6, 9, 10, tzinfo=UTC))
    found = list_archival(agent, start_datetime="2025-03-01", end_datetime="2025-03-31")
    assert [p.id for p in found] == [old.id]
    with pytest.raises(Invalid) as bad:
        list_archival(agent, start_datetime="March")
    assert bad.value.field == "start_datetime"


def test_api_patch(agent, alice_api, org, mallory_api):
    passage = _insert(agent, "Standup moved to ten.", ["team"])
    url = f"/v1/agents/{agent.id}/archival-memory/{passage.id}"
    ok = alice_api.patch(url, {"text": "Standup moved to eleven.", "tags": ["team", "schedule"], "version": 1})
    assert ok.status_code == 200, ok.content
    assert (ok.json()["text"], ok.json()["tags"], ok.json()["version"]) == (
        "Standup moved to eleven.",
        ["schedule", "team"],
        2,
    )
    stale = alice_api.patch(url, {"text": "Standup moved to noon."}, HTTP_IF_MATCH='"1"')
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert alice_api.patch(url, {"text": ""}).status_code == 422
    assert alice_api.patch(url, {"colour": "red"}).status_code == 422
    missing = alice_api.patch(
        f"/v1/agents/{agent.id}/archival-memory/passage-00000000-0000-4000-8000-000000000000", {"text": "x"}
    )
    assert missing.status_code == 404
    assert mallory_api.patch(url, {"text": "mine now"}).status_code == 404
    viewer = create_user("vic", "correct horse battery", organization=org, role="viewer")
    assert ApiClient(create_api_key(viewer, "v")[1]).patch(url, {"text": "viewer"}).status_code == 403
    assert Passage.objects.get(id=passage.id).text == "Standup moved to eleven."
    spec = alice_api.get("/v1/openapi.json").json()
    assert "patch" in spec["paths"]["/v1/agents/{agent_id}/archival-memory/{memory_id}"]


def test_page_edit_keeps_the_search_and_refuses_stale(client, agent, alice):
    passage = _insert(agent, "The boiler service is due in May.", ["house"])
    client.force_login(alice)
    url = reverse("agents:passage_edit", args=[agent.id, passage.id])
    form = {"text": "The boiler service is due in June.", "tags": "house, boiler", "version": "1"}
    search = {"q": "boiler service", "mode": "hybrid", "tag_filter": "boiler"}
    saved = client.post(url, {**form, **search}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="archival")
    assert saved.status_code == 200
    body = saved.content.decode()
    assert "due in June" in body and "Saved." in body and "similarity" in body and "fused" in body
    stale = client.post(url, {**form, "text": "July"}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409 and "changed since you opened it" in stale.content.decode()
    assert Passage.objects.get(id=passage.id).text == "The boiler service is due in June."
