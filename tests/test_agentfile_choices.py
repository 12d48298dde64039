"""The import dialog's choices over the shared code path (#15 confusing 10): archival passages travel in Engram's
optional `archival_passages` section when an export asks for them; a preview names what the file would take and the
models this server lacks; `model_map` rewrites those configs; free names (agents, folders, a PDF) are kept; a
sleep-time companion stays linked."""

import json
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Group
from memory.models import File, Folder, Passage
from tests.test_api_agentfile import SCRIPTED, import_file

SAMPLES = Path("/work/shared/af-samples")


def _preview(api, raw: bytes):
    return api.upload("/v1/agents/import/preview", {"file": SimpleUploadedFile("x.af", raw, "application/json")}, {})


def test_passages_are_exported_when_asked_and_imported_again(alice_api):
    agent_id = import_file(alice_api, (SAMPLES / "loop.af").read_bytes(), **SCRIPTED).json()["agent_ids"][0]
    for text, tags in (("The user's dog is called Biscuit.", ["pets"]), ("The user lives in Lyon.", [])):
        r = alice_api.post(f"/v1/agents/{agent_id}/archival-memory", {"text": text, "tags": tags})
        assert r.status_code == 200, r.content
    plain = alice_api.get(f"/v1/agents/{agent_id}/export").json()
    assert "archival_passages" not in plain
    doc = alice_api.get(f"/v1/agents/{agent_id}/export", {"include_passages": "true"}).json()
    section = doc["archival_passages"]
    assert [p["text"] for p in section] == ["The user's dog is called Biscuit.", "The user lives in Lyon."]
    assert section[0]["tags"] == ["pets"] and section[0]["agent_id"] == doc["agents"][0]["id"]

    preview = _preview(alice_api, json.dumps(doc).encode()).json()
    assert preview["archival_passages"] == 2 and preview["agents"] == [{"name": "Loop_copy", "name_taken": True}]
    new_id = import_file(alice_api, doc, **SCRIPTED).json()["agent_ids"][0]
    listed = alice_api.get(f"/v1/agents/{new_id}/archival-memory").json()
    assert sorted(p["text"] for p in listed) == sorted(p["text"] for p in section)
    assert {tuple(p["tags"]) for p in listed} == {("pets",), ()}
    skipped = import_file(alice_api, doc, include_passages=False, **SCRIPTED).json()["agent_ids"][0]
    assert alice_api.get(f"/v1/agents/{skipped}/archival-memory").json() == []


def test_a_broken_passage_section_is_refused(alice_api):
    doc = json.loads((SAMPLES / "loop.af").read_bytes())
    doc["archival_passages"] = [{"id": "passage-0", "agent_id": "agent-9", "text": "x"}]
    before = Passage.objects.count(), Agent.objects.count()
    r = import_file(alice_api, doc, **SCRIPTED)
    assert r.status_code == 400 and "passage-0" in r.json()["detail"]
    assert (Passage.objects.count(), Agent.objects.count()) == before


def test_preview_names_unknown_models_and_model_map_rewrites_them(alice_api):
    raw = (SAMPLES / "evie.af").read_bytes()
    r = _preview(alice_api, raw)
    assert r.status_code == 200, r.content
    preview = r.json()
    unknown = {(m["kind"], m["handle"]) for m in preview["unknown_models"]}
    assert unknown == {
        ("llm", "anthropic/claude-opus-4-5-20251101"),
        ("llm", "anthropic/claude-sonnet-4-5-20250929"),
        ("embedding", "openai/text-embedding-3-small"),
    }
    assert "engram/scripted" in preview["choices"]["llm"]
    model_map = {
        "anthropic/claude-opus-4-5-20251101": "engram/scripted",
        "anthropic/claude-sonnet-4-5-20250929": "engram/scripted",
        "openai/text-embedding-3-small": "local/all-minilm-l6-v2",
    }
    r = import_file(alice_api, raw, "evie.af", model_map=json.dumps(model_map), keep_free_names=True)
    assert r.status_code == 200, r.content
    agents = [Agent.objects.get(id=i) for i in r.json()["agent_ids"]]
    assert [a.name for a in agents] == ["Evie", "companion-sleeptime_copy"]  # free names kept
    assert {a.llm_config["handle"] for a in agents} == {"engram/scripted"}
    assert {a.embedding_config["handle"] for a in agents} == {"local/all-minilm-l6-v2"}
    group = Group.objects.get(manager_agent=agents[0])  # the companion stays linked to its agent
    assert list(group.agents.values_list("id", flat=True)) == [agents[1].id] and agents[0].enable_sleeptime
    assert _preview(alice_api, raw).json()["agents"][0] == {"name": "Evie", "name_taken": True}


def test_bad_model_maps_and_previews_are_400(alice_api):
    raw = (SAMPLES / "loop.af").read_bytes()
    before = Agent.objects.count()
    for value, word in (("[1]", "JSON object"), ("{", "JSON object"), ('{"a/b": "nope/none"}', "not a model")):
        r = import_file(alice_api, raw, model_map=value)
        assert r.status_code == 400 and word in r.json()["detail"], r.content
    assert Agent.objects.count() == before
    wrong_kind = json.dumps({"anthropic/claude-sonnet-4-5-20250929": "local/all-minilm-l6-v2"})
    r = import_file(alice_api, raw, model_map=wrong_kind)
    assert r.status_code == 400 and "is not an LLM" in r.json()["detail"], r.content
    assert Agent.objects.count() == before
    r = _preview(alice_api, b"not json")
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]


def test_folders_and_a_pdf_keep_their_names(alice_api, alice, django_capture_on_commit_callbacks):
    doc = json.loads((SAMPLES / "loop.af").read_bytes())
    doc["sources"] = [{"id": "source-0", "name": "manuals"}]
    doc["files"] = [{"id": "file-0", "source_id": "source-0", "file_name": "guide.pdf", "content": "Turn it off."}]
    doc["agents"][0]["folder_ids"] = ["source-0"]
    with django_capture_on_commit_callbacks(execute=True):  # ingestion starts after the import's commit
        first = import_file(alice_api, doc, **SCRIPTED)
        assert first.status_code == 200, first.content
        import_file(alice_api, doc, **SCRIPTED)
    names = set(Folder.objects.filter(organization=alice.organization).values_list("name", flat=True))
    assert names == {"manuals", "manuals_copy"}
    files = File.objects.filter(folder__organization=alice.organization)
    assert {f.file_name for f in files} == {"guide.pdf"}
    assert {f.processing_status for f in files} == {"completed"} and {f.content for f in files} == {"Turn it off."}


def test_the_dialog_previews_and_maps_like_the_api(alice):
    raw = (SAMPLES / "evie.af").read_bytes()
    client = Client()
    client.force_login(alice)
    page = client.post(reverse("agents:import_preview"), {"file": SimpleUploadedFile("evie.af", raw)}).content
    html = page.decode()
    assert "anthropic/claude-opus-4-5-20251101" in html and 'name="map_to"' in html
    handles = ["anthropic/claude-opus-4-5-20251101", "anthropic/claude-sonnet-4-5-20250929"]
    data = {
        "file": SimpleUploadedFile("evie.af", raw),
        "keep_names": "on",
        "map_from": [*handles, "openai/text-embedding-3-small"],
        "map_to": ["engram/scripted", "engram/scripted", "local/all-minilm-l6-v2"],
    }
    r = client.post(reverse("agents:import"), data)
    assert r.status_code == 302
    evie = Agent.objects.get(organization=alice.organization, name="Evie")
    assert evie.llm_config["handle"] == "engram/scripted"
    bad = client.post(reverse("agents:import"), {**data, "file": SimpleUploadedFile("e.af", raw), "map_to": ["x/y"]})
    assert bad.status_code == 400 and "not a model of this server" in bad.content.decode()


def test_the_page_exports_passages_when_its_link_asks(alice_api, alice):
    agent_id = import_file(alice_api, (SAMPLES / "loop.af").read_bytes(), **SCRIPTED).json()["agent_ids"][0]
    alice_api.post(f"/v1/agents/{agent_id}/archival-memory", {"text": "The user's dog is called Biscuit."})
    client = Client()
    client.force_login(alice)
    settings_panel = client.get(reverse("agents:settings", args=[agent_id])).content.decode()
    assert f"/agents/{agent_id}/export/?include_passages=1" in settings_panel
    plain = json.loads(client.get(reverse("agents:export", args=[agent_id])).content)
    assert "archival_passages" not in plain
    full = json.loads(client.get(reverse("agents:export", args=[agent_id]), {"include_passages": "1"}).content)
    assert [p["text"] for p in full["archival_passages"]] == ["The user's dog is called Biscuit."]
