"""An organization's own model providers (/v1/providers, the Model providers page): added, checked, refreshed and
removed by admins; their models usable by that organization only; keys encrypted, masked, and sent only to the
provider's own address."""

import json
from pathlib import Path

import pytest
from letta_client.types import Model

from accounts.actions import create_api_key, create_user
from agents.models import Provider as ProviderRow
from tests.apiclient import ApiClient
from tests.servers.keyed_provider import REPLY, KeyedProvider

KEY = "sk-acme-provider-key-0123456789"
SPEC = Path("/work/shared/spec/letta-0.16.8-openapi.json")
LETTA_PROVIDER = json.loads(SPEC.read_text())["components"]["schemas"]["Provider"]


@pytest.fixture
def remote(settings):
    settings.ALLOWED_MODEL_HOSTS = ["127.0.0.1"]
    settings.LLM_RETRY_DELAYS = []
    server = KeyedProvider(KEY)
    yield server
    server.stop()


def add(api, remote, name="acme-llm", **extra):
    body = {"name": name, "provider_type": "openai", "api_key": KEY, "base_url": remote.url, **extra}
    return api.post("/v1/providers/", body)


def new_agent(api, model):
    return api.post("/v1/agents/", {"name": "a", "model": model, "embedding": "local/all-minilm-l6-v2"})


def test_an_admin_adds_a_provider_its_models_are_listed_and_the_key_only_masked(alice, alice_api, remote):
    r = add(alice_api, remote)
    assert r.status_code == 200, r.content
    shown = r.json()
    assert (shown["name"], shown["provider_type"], shown["provider_category"]) == ("acme-llm", "openai", "byok")
    assert shown["api_key"] == "****" + KEY[-4:] and shown["base_url"] == remote.url
    assert set(shown) >= set(LETTA_PROVIDER["properties"]) and shown["organization_id"] == alice.organization_id
    assert r.json()["models"] == ["fast-1", "text-embed-1"] and r.json()["last_error"] is None
    assert remote.authorizations() == [f"Bearer {KEY}"]  # the listing went to the provider with its key
    stored = ProviderRow.objects.get(id=shown["id"])
    assert KEY not in stored.api_key and stored.api_key  # encrypted at rest
    listed = alice_api.get("/v1/providers/").json()
    assert KEY not in str(listed) and [p["name"] for p in listed if p["provider_category"] == "byok"] == ["acme-llm"]
    models = {m["handle"]: m for m in alice_api.get("/v1/models/").json()}
    assert "acme-llm/fast-1" in models and "acme-llm/text-embed-1" not in models  # embedding models are not LLMs
    model = Model.model_validate(models["acme-llm/fast-1"])
    assert (model.provider_category, model.context_window, model.provider_type) == ("byok", 64_000, "openai")
    byok = alice_api.get("/v1/models/", {"provider_category": "byok"}).json()
    assert [m["handle"] for m in byok] == ["acme-llm/fast-1"]


def test_an_agent_on_an_organization_model_answers_through_its_provider_with_its_key(alice_api, remote):
    add(alice_api, remote)
    agent = new_agent(alice_api, "acme-llm/fast-1")
    assert agent.status_code == 200, agent.content
    assert agent.json()["llm_config"]["provider_category"] == "byok"
    r = alice_api.post(f"/v1/agents/{agent.json()['id']}/messages", {"input": "hi"})
    assert r.status_code == 200, r.content
    assert REPLY in str(r.json()["messages"])
    chats = [s for s in remote.seen if s["path"].endswith("/chat/completions")]
    assert chats and all(s["headers"]["Authorization"] == f"Bearer {KEY}" for s in chats)
    assert chats[0]["body"]["model"] == "fast-1"


def test_a_turn_through_an_organization_provider_pointed_at_the_scripted_model(alice_api, scripted_llm, settings):
    settings.ALLOWED_MODEL_HOSTS = ["127.0.0.1"]
    url = scripted_llm.api_base
    r = alice_api.post("/v1/providers/", {"name": "sim", "provider_type": "vllm", "api_key": "", "base_url": url})
    assert r.status_code == 200 and "scripted" in r.json()["models"], r.content
    agent = new_agent(alice_api, "sim/scripted").json()
    scripted_llm.queue_text("answered by the simulator behind an organization provider")
    reply = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"}).json()
    assert "behind an organization provider" in str(reply["messages"])
    assert scripted_llm.requests()[-1]["model"] == "scripted"


def test_another_organization_cannot_see_or_use_the_provider_or_its_key(alice_api, mallory_api, remote):
    provider = add(alice_api, remote).json()
    assert all(p["provider_category"] == "base" for p in mallory_api.get("/v1/providers/").json())
    assert mallory_api.get(f"/v1/providers/{provider['id']}").status_code == 404
    assert mallory_api.delete(f"/v1/providers/{provider['id']}").status_code == 404
    assert mallory_api.patch(f"/v1/providers/{provider['id']}", {"api_key": "x"}).status_code == 404
    assert mallory_api.patch(f"/v1/providers/{provider['id']}/refresh").status_code == 404
    assert mallory_api.post(f"/v1/providers/{provider['id']}/check").status_code == 404
    assert not [m for m in mallory_api.get("/v1/models/").json() if m["handle"].startswith("acme-llm/")]
    calls_before = len(remote.seen)
    assert new_agent(mallory_api, "acme-llm/fast-1").status_code == 404
    # A config copied by hand, naming alice's provider and its address, gets mallory nothing: the call is built from
    # mallory's own organization's providers, which has none of that name.
    config = new_agent(alice_api, "acme-llm/fast-1").json()["llm_config"]
    forged = mallory_api.post("/v1/agents/", {"name": "m", "llm_config": config, "embedding": "local/all-minilm-l6-v2"})
    assert forged.status_code == 404  # its handle names a provider mallory's organization does not have
    config.pop("handle")
    forged = mallory_api.post("/v1/agents/", {"name": "m", "llm_config": config, "embedding": "local/all-minilm-l6-v2"})
    assert forged.status_code == 200, forged.content
    forged = forged.json()
    r = mallory_api.post(f"/v1/agents/{forged['id']}/messages", {"input": "hi"})
    assert "not configured in this organization" in r.content.decode()
    assert len(remote.seen) == calls_before  # the provider was never called for mallory
    assert r.status_code == 502


def test_names_types_and_addresses_are_checked(alice_api, remote, settings):
    assert add(alice_api, remote, name="openai").status_code == 409  # the operator's names are taken
    bad = add(alice_api, remote, name="Has Spaces")
    assert bad.status_code == 400 and bad.json()["detail"].startswith("name ")
    wrong_type = add(alice_api, remote, name="x", provider_type="carrier-pigeon")
    assert wrong_type.status_code == 400 and "provider_type must be one of" in wrong_type.json()["detail"]
    no_url = alice_api.post("/v1/providers/", {"name": "o", "provider_type": "ollama", "api_key": ""})
    assert no_url.status_code == 400 and no_url.json()["detail"].startswith("base_url is required")
    assert (
        add(alice_api, remote, name="k", api_key="").json()["detail"].startswith("api_key is required")
    )  # OpenAI needs a key
    assert add(alice_api, remote, api_key="sk-wrong").status_code == 400  # the provider refuses the key
    assert add(alice_api, remote).status_code == 200
    assert add(alice_api, remote).status_code == 409  # the same name twice
    settings.ALLOWED_MODEL_HOSTS = []
    internal = add(alice_api, remote, name="inside")
    assert internal.status_code == 400 and "internal address" in internal.json()["detail"]
    assert ProviderRow.objects.count() == 1
    settings.ALLOWED_MODEL_HOSTS = ["127.0.0.1"]
    down = alice_api.post(
        "/v1/providers/", {"name": "later", "provider_type": "ollama", "api_key": "", "base_url": "http://127.0.0.1:9"}
    )
    assert down.status_code == 200 and "could not reach" in down.json()["last_error"]  # added; says why it is empty
    from accounts.models import AuditEntry

    assert set(AuditEntry.objects.filter(object_type="provider").values_list("action", flat=True)) == {
        "provider.create"
    }


def test_check_tries_a_key_without_storing_it(alice_api, remote):
    body = {"provider_type": "openai", "api_key": KEY, "base_url": remote.url}
    ok = alice_api.post("/v1/providers/check", body)
    assert ok.status_code == 200 and ok.json()["models"] == ["fast-1", "text-embed-1"]
    wrong = alice_api.post("/v1/providers/check", {**body, "api_key": "sk-wrong"})
    assert wrong.status_code == 400 and "refused the key (HTTP 401)" in wrong.json()["detail"]
    assert "sk-wrong" not in wrong.content.decode()
    assert ProviderRow.objects.count() == 0


def test_a_key_changes_only_with_a_new_key_and_refresh_keeps_the_list_when_the_provider_is_down(alice_api, remote):
    provider = add(alice_api, remote).json()
    path = f"/v1/providers/{provider['id']}"
    assert alice_api.patch(path, {"base_url": "http://127.0.0.1:1/v1"}).status_code == 422  # api_key is required
    assert alice_api.get(path).json()["base_url"] == remote.url
    remote.key = "sk-acme-rotated-key-9876543210"
    assert alice_api.post(f"{path}/check").status_code == 400  # the stored key no longer works
    refused = alice_api.patch(path, {"api_key": "sk-not-the-rotated-one"})
    assert refused.status_code == 400 and "refused the key" in refused.json()["detail"]
    assert alice_api.get(path).json()["api_key"] == "****" + KEY[-4:]  # a refused key is not stored
    changed = alice_api.patch(path, {"api_key": remote.key}).json()
    assert changed["api_key"] == "****3210" and alice_api.post(f"{path}/check").status_code == 200
    remote.fail = True
    refreshed = alice_api.patch(f"{path}/refresh").json()
    assert refreshed["models"] == ["fast-1", "text-embed-1"] and "503" in refreshed["last_error"]
    remote.fail, remote.models = False, ["fast-2"]
    assert alice_api.patch(f"{path}/refresh").json()["models"] == ["fast-2"]
    assert alice_api.get("/v1/models/", {"provider_name": "acme-llm"}).json()[0]["handle"] == "acme-llm/fast-2"


def test_removing_a_provider_gives_its_agents_a_clear_error(alice_api, remote):
    provider = add(alice_api, remote).json()
    agent = new_agent(alice_api, "acme-llm/fast-1").json()
    assert alice_api.delete(f"/v1/providers/{provider['id']}").status_code == 204
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "hi"})
    assert "'acme-llm' is not configured in this organization" in r.content.decode()


def test_only_admins_change_providers_and_the_operator_ones_are_read_only(alice, alice_api, remote):
    editor = ApiClient(
        create_api_key(create_user("ed", "pw-ed-123456", organization=alice.organization, role="editor"), "t")[1]
    )
    assert add(editor, remote).status_code == 403
    provider = add(alice_api, remote).json()
    assert editor.delete(f"/v1/providers/{provider['id']}").status_code == 403
    assert [p["name"] for p in editor.get("/v1/providers/").json() if p["provider_category"] == "byok"] == ["acme-llm"]
    assert new_agent(editor, "acme-llm/fast-1").status_code == 200  # editors use the models
    operator = [p for p in alice_api.get("/v1/providers/").json() if p["provider_category"] == "base"]
    assert operator[0]["name"] == "engram" and operator[0]["api_key"] is None
    assert alice_api.get(f"/v1/providers/{operator[0]['id']}").json()["name"] == "engram"
    assert alice_api.delete(f"/v1/providers/{operator[0]['id']}").status_code == 403
    assert alice_api.patch(f"/v1/providers/{operator[0]['id']}", {"api_key": "x"}).status_code == 403


def test_the_page_adds_tests_and_removes_providers_and_never_shows_the_key(alice, client, remote):
    client.force_login(alice)
    page = client.get("/providers/").content.decode()
    assert "Add a provider" in page and "set by the operator" in page and "engram/scripted" in page
    form = {"name": "acme-llm", "provider_type": "openai", "api_key": KEY, "base_url": remote.url}
    tested = client.post("/providers/", {**form, "test": "1"}).content.decode()
    assert "The key works: 2 models" in tested and ProviderRow.objects.count() == 0
    wrong = client.post("/providers/", {**form, "api_key": "sk-nope"})
    assert "refused the key (HTTP 401)" in wrong.content.decode() and ProviderRow.objects.count() == 0
    added = client.post("/providers/", form).content.decode()
    assert "Added acme-llm with 2 models" in added and "acme-llm/fast-1" in added
    assert KEY not in added and KEY not in client.get("/providers/").content.decode()
    row = ProviderRow.objects.get()
    assert "acme-llm/fast-1" in client.get(f"/agents/{new_agent_for(alice)}/").content.decode()  # in the picker
    assert "acme-llm lists 2 models" in client.post(f"/providers/{row.id}/refresh/").content.decode()
    assert "The key works: 2 models visible" in client.post(f"/providers/{row.id}/check/").content.decode()
    refused = client.post(f"/providers/{row.id}/key/", {"api_key": "sk-nope"}).content.decode()
    assert "refused the key" in refused and ProviderRow.objects.get().api_key == row.api_key
    assert "Saved the new key" in client.post(f"/providers/{row.id}/key/", {"api_key": KEY}).content.decode()
    client.post(f"/providers/{row.id}/delete/")
    assert ProviderRow.objects.count() == 0


def new_agent_for(user) -> str:
    from agents.actions import create_agent

    return create_agent(user, {"name": "picker", "embedding": "local/all-minilm-l6-v2"}).id


def test_a_viewer_sees_the_providers_but_no_form(alice, client, remote):
    viewer = create_user("vi", "pw-vi-123456", organization=alice.organization, role="viewer")
    client.force_login(viewer)
    page = client.get("/providers/").content.decode()
    assert "Add a provider" not in page and "admins add and remove providers" in page
    assert client.post("/providers/", {"name": "x", "provider_type": "openai", "api_key": KEY}).status_code == 403


def test_names_keep_their_case_but_cannot_mimic_the_operator(alice_api, remote):
    assert add(alice_api, remote, name="OpenAI").status_code == 409
    assert add(alice_api, remote, name="Team-LLM").status_code == 200
    assert "Team-LLM/fast-1" in {m["handle"] for m in alice_api.get("/v1/models/").json()}


def test_a_change_made_while_the_models_were_listed_is_not_overwritten(alice_api, remote, monkeypatch):
    from agents import org_providers

    provider = add(alice_api, remote).json()
    listed = org_providers.list_models

    def meanwhile(row):
        ProviderRow.objects.get(id=row.id).save()  # another admin saves the provider during the listing
        return listed(row)

    monkeypatch.setattr(org_providers, "list_models", meanwhile)
    r = alice_api.patch(f"/v1/providers/{provider['id']}", {"api_key": KEY})
    assert r.status_code == 409 and "changed meanwhile" in r.json()["detail"]
