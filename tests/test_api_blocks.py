"""/v1 blocks and an agent's core memory: CRUD, versioned edits, pagination, errors, organization scoping."""

import pytest

from memory.actions import Actor, create_block
from memory.models import Block, BlockHistory


def make_agent(org, name="helper", blocks=()):
    from agents.models import Agent, AgentBlock

    agent = Agent.objects.create(
        organization=org,
        name=name,
        llm_config={"model": "scripted", "model_endpoint_type": "openai", "context_window": 8000},
    )
    for i, block in enumerate(blocks):
        AgentBlock.objects.create(agent=agent, block=block, position=i)
    return agent


def test_create_retrieve_update_delete_block(alice_api):
    r = alice_api.post("/v1/blocks/", {"label": "human", "value": "Name: Ada", "limit": 500})
    assert r.status_code == 200, r.content
    block = r.json()
    assert block["id"].startswith("block-") and block["value"] == "Name: Ada" and block["limit"] == 500
    assert block["version"] == 1 and block["description"].startswith("The human block")

    assert alice_api.get(f"/v1/blocks/{block['id']}").json()["value"] == "Name: Ada"
    r = alice_api.patch(f"/v1/blocks/{block['id']}", {"value": "Name: Ada Lovelace", "description": None})
    assert r.status_code == 200 and r.json()["value"] == "Name: Ada Lovelace" and r.json()["version"] == 2
    assert BlockHistory.objects.filter(block_id=block["id"]).count() == 2

    r = alice_api.delete(f"/v1/blocks/{block['id']}")
    assert (
        r.status_code == 200 and r["Content-Type"].startswith("application/json") and "deleted" in r.json()["message"]
    )
    assert not Block.objects.filter(id=block["id"]).exists()
    assert alice_api.get(f"/v1/blocks/{block['id']}").status_code == 404


def test_post_without_trailing_slash_is_not_redirected(alice_api):
    r = alice_api.post("/v1/blocks", {"label": "notes", "value": ""})
    assert r.status_code == 200 and r.json()["label"] == "notes"
    assert alice_api.get("/v1/blocks").status_code == 200


@pytest.mark.parametrize("how", ["body", "header"])
def test_stale_version_is_refused_with_409(alice_api, org, alice, how):
    block = create_block(org, label="human", value="v1", actor=Actor.user(alice))
    alice_api.patch(f"/v1/blocks/{block.id}", {"value": "v2", "version": 1})
    stale = {"value": "v3", "version": 1} if how == "body" else {"value": "v3"}
    extra = {"HTTP_IF_MATCH": '"1"'} if how == "header" else {}
    r = alice_api.patch(f"/v1/blocks/{block.id}", stale, **extra)
    assert r.status_code == 409, r.content
    assert "changed by someone else" in r.json()["detail"] and r.json()["current_version"] == 2
    assert r["x-should-retry"] == "false"
    block.refresh_from_db()
    assert block.value == "v2" and block.version == 2


def test_current_version_is_accepted(alice_api, org, alice):
    block = create_block(org, label="human", value="v1", actor=Actor.user(alice))
    r = alice_api.patch(f"/v1/blocks/{block.id}", {"value": "v2"}, HTTP_IF_MATCH='"1"')
    assert r.status_code == 200 and r.json()["version"] == 2


def test_value_over_limit_is_422_and_nothing_changes(alice_api, org, alice):
    block = create_block(org, label="human", value="abc", limit=5, actor=Actor.user(alice))
    r = alice_api.patch(f"/v1/blocks/{block.id}", {"value": "abcdefgh"})
    assert r.status_code == 422 and "Exceeds 5 character limit" in r.json()["detail"]
    block.refresh_from_db()
    assert block.value == "abc"


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"label": "x", "value": "y", "colour": "red"}, 422, "colour"),
        ({"label": "x", "value": 5}, 422, "value"),
        ({"value": "y"}, 422, "label"),
        ({"label": "x", "value": "y", "limit": "many"}, 422, "limit"),
        ('{"label": "x", "value": ', 400, "Malformed JSON"),
        ({"label": "x\u0000", "value": "y"}, 400, "NUL"),
        ({"label": "x" * 201, "value": "y"}, 422, "label"),
        ([1, 2], 422, "body"),
    ],
)
def test_bad_block_input_is_4xx_naming_the_problem(alice_api, body, status, names):
    r = alice_api.post("/v1/blocks/", body)
    assert r.status_code == status, r.content
    assert names in r.json()["detail"]
    assert not Block.objects.exists()


def test_oversize_body_is_413(alice_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = alice_api.post("/v1/blocks/", {"label": "x", "value": "y" * 2000})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    assert not Block.objects.exists()


def test_malformed_id_is_422_unknown_id_is_404(alice_api):
    r = alice_api.get("/v1/blocks/not-a-block")
    assert r.status_code == 422 and "block_id" in r.json()["detail"] and r.json()["examples"]
    assert alice_api.get("/v1/blocks/block-123e4567-e89b-42d3-8456-426614174000").status_code == 404


def test_auth_is_required(alice_api, client):
    r = client.get("/v1/blocks/")
    assert r.status_code == 401 and "API key" in r.json()["detail"]
    r = client.get("/v1/blocks/", HTTP_AUTHORIZATION="Bearer sk-engram-wrong")
    assert r.status_code == 401
    assert client.get("/v1/health/").json()["status"] == "ok"


def test_unknown_route_is_json_404(alice_api):
    r = alice_api.get("/v1/no-such-thing")
    assert r.status_code == 404 and "no route" in r.json()["detail"]


def test_other_organizations_blocks_are_404_and_untouched(alice_api, mallory_api, org, alice):
    block = create_block(org, label="human", value="secret", actor=Actor.user(alice))
    assert mallory_api.get(f"/v1/blocks/{block.id}").status_code == 404
    assert mallory_api.patch(f"/v1/blocks/{block.id}", {"value": "pwned"}).status_code == 404
    assert mallory_api.delete(f"/v1/blocks/{block.id}").status_code == 404
    assert mallory_api.get("/v1/blocks/").json() == []
    block.refresh_from_db()
    assert block.value == "secret" and block.version == 1


def test_block_list_pages_with_cursors_in_both_orders(alice_api, org, alice):
    ids = [create_block(org, label=f"b{i}", value="", actor=Actor.user(alice)).id for i in range(7)]
    seen, after = [], None
    while True:
        page = alice_api.get("/v1/blocks/", {"limit": 3, **({"after": after} if after else {})}).json()
        if not page:
            break
        seen += [b["id"] for b in page]
        after = page[-1]["id"]
    assert seen == ids  # default order for blocks: oldest first

    newest_first = [b["id"] for b in alice_api.get("/v1/blocks/", {"order": "desc", "limit": 50}).json()]
    assert newest_first == ids[::-1]
    page = alice_api.get("/v1/blocks/", {"order": "desc", "after": ids[4], "limit": 2}).json()
    assert [b["id"] for b in page] == [ids[3], ids[2]]
    page = alice_api.get("/v1/blocks/", {"before": ids[4], "limit": 2}).json()
    assert [b["id"] for b in page] == [ids[2], ids[3]]
    r = alice_api.get("/v1/blocks/", {"after": "block-123e4567-e89b-42d3-8456-426614174000"})
    assert r.status_code == 400 and "after" in r.json()["detail"]


def test_block_list_filters(alice_api, org, alice):
    create_block(org, label="human", value="likes tea", tags=["a", "b"], actor=Actor.user(alice))
    create_block(org, label="persona", value="a helper", tags=["b"], actor=Actor.user(alice))
    labels = lambda **q: sorted(b["label"] for b in alice_api.get("/v1/blocks/", q).json())  # noqa: E731
    assert labels(label="human") == ["human"]
    assert labels(value_search="TEA") == ["human"]
    assert labels(tags=["a"]) == ["human"]
    assert labels(tags=["a", "b"]) == ["human", "persona"]
    assert labels(tags=["a", "b"], match_all_tags="true") == ["human"]


def test_agent_core_memory_by_label(alice_api, mallory_api, org, alice):
    human = create_block(org, label="human", value="Name: ?", actor=Actor.user(alice))
    persona = create_block(org, label="persona", value="I help.", actor=Actor.user(alice))
    agent = make_agent(org, blocks=[human, persona])

    listed = alice_api.get(f"/v1/agents/{agent.id}/core-memory/blocks").json()
    assert {b["label"] for b in listed} == {"human", "persona"}
    r = alice_api.get(f"/v1/agents/{agent.id}/core-memory/blocks/human")
    assert r.status_code == 200 and r.json()["id"] == human.id
    r = alice_api.patch(f"/v1/agents/{agent.id}/core-memory/blocks/human", {"value": "Name: Ada", "version": 1})
    assert r.status_code == 200 and r.json()["value"] == "Name: Ada"
    history = BlockHistory.objects.get(block=human, version=2)
    assert history.actor_type == "api" and history.actor_id == alice.id

    assert alice_api.get(f"/v1/agents/{agent.id}/core-memory/blocks/nope").status_code == 404
    assert mallory_api.get(f"/v1/agents/{agent.id}/core-memory/blocks/human").status_code == 404
    r = mallory_api.patch(f"/v1/agents/{agent.id}/core-memory/blocks/human", {"value": "pwned"})
    assert r.status_code == 404
    human.refresh_from_db()
    assert human.value == "Name: Ada"


def test_openapi_document_and_docs_page(client):
    doc = client.get("/v1/openapi.json").json()
    assert doc["info"]["title"] == "Engram API" and "/v1/agents/" in doc["paths"]
    assert doc["paths"]["/v1/blocks/{block_id}"]["patch"]["responses"]["409"]
    page = client.get("/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/v1/openapi.json" in html and "cdn." not in html  # Swagger UI comes with the server


def test_api_is_csrf_exempt(alice_key):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {alice_key}")
    r = strict.post("/v1/blocks/", '{"label": "x", "value": "y"}', content_type="application/json")
    assert r.status_code == 200
