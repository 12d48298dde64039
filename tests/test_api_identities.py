"""Identities through the SDK against a live server: an app scopes agents and blocks per end user, and an unknown
identity is a 404, never silently dropped. (The SDK has attach/detach only; CRUD goes through its raw requests.)"""

from typing import Any

import pytest
from letta_client import BadRequestError, ConflictError, Letta, NotFoundError, UnprocessableEntityError

from tests.test_sdk import letta, make_agent  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)
OBJ, LIST = dict[str, Any], list[dict[str, Any]]


def identity(letta, key, **extra):  # noqa: F811
    body = {"identifier_key": key, "name": key.title(), "identity_type": "user", **extra}
    return letta.post("/v1/identities/", body=body, cast_to=OBJ)


def test_agents_and_blocks_are_listed_per_identity(letta):  # noqa: F811
    ada, bob = identity(letta, "ada"), identity(letta, "bob")
    ada_agent = make_agent(letta, name="ada's", identity_ids=[ada["id"]])
    bob_agent = make_agent(letta, name="bob's")
    make_agent(letta, name="nobody's")
    assert ada_agent.identity_ids == [ada["id"]] and ada_agent.identities[0].identifier_key == "ada"

    letta.agents.identities.attach(bob["id"], agent_id=bob_agent.id)
    assert [a.id for a in letta.agents.list(identity_id=ada["id"])] == [ada_agent.id]
    assert [a.id for a in letta.agents.list(identifier_keys=["bob"])] == [bob_agent.id]
    assert sorted(a.id for a in letta.agents.list(identifier_keys=["ada", "bob"])) == sorted(
        [ada_agent.id, bob_agent.id]
    )
    assert len(list(letta.agents.list())) == 3

    letta.agents.identities.detach(bob["id"], agent_id=bob_agent.id)
    assert list(letta.agents.list(identifier_keys=["bob"])) == []

    block = letta.blocks.create(label="prefs", value="likes tea")
    letta.blocks.create(label="other", value="x")
    letta.patch(f"/v1/identities/{ada['id']}", body={"block_ids": [block.id]}, cast_to=OBJ)
    assert [b.id for b in letta.blocks.list(identity_id=ada["id"])] == [block.id]
    assert [b.id for b in letta.blocks.list(identifier_keys=["ada"])] == [block.id]


def test_identity_crud_upsert_and_properties(letta):  # noqa: F811
    ada = identity(letta, "ada", properties=[{"key": "plan", "value": "pro", "type": "string"}])
    assert ada["properties"] == [{"key": "plan", "value": "pro", "type": "string"}]
    assert letta.get(f"/v1/identities/{ada['id']}", cast_to=OBJ)["name"] == "Ada"
    with pytest.raises(ConflictError):
        identity(letta, "ada")

    upserted = letta.put(
        "/v1/identities/", body={"identifier_key": "ada", "name": "Ada L.", "identity_type": "user"}, cast_to=OBJ
    )
    assert upserted["id"] == ada["id"] and upserted["name"] == "Ada L."
    letta.put(
        f"/v1/identities/{ada['id']}/properties",
        body=[{"key": "age", "value": 36, "type": "number"}],
        cast_to=OBJ,
    )
    assert letta.get(f"/v1/identities/{ada['id']}", cast_to=OBJ)["properties"] == [
        {"key": "age", "value": 36, "type": "number"}
    ]
    with pytest.raises(BadRequestError, match="not a number"):
        letta.put(
            f"/v1/identities/{ada['id']}/properties",
            body=[{"key": "age", "value": "old", "type": "number"}],
            cast_to=OBJ,
        )
    listed = letta.get("/v1/identities/", options={"params": {"identifier_key": "ada"}}, cast_to=LIST)
    assert [i["id"] for i in listed] == [ada["id"]]
    letta.delete(f"/v1/identities/{ada['id']}", cast_to=OBJ)
    with pytest.raises(NotFoundError):
        letta.get(f"/v1/identities/{ada['id']}", cast_to=OBJ)


def test_unknown_or_foreign_identity_is_a_404(letta, live_server_url, mallory):  # noqa: F811
    from accounts.actions import create_api_key

    with pytest.raises(NotFoundError, match="identity"):
        make_agent(letta, identity_ids=["identity-123e4567-e89b-42d3-8456-426614174000"])
    assert list(letta.agents.list()) == []  # nothing half-created
    agent = make_agent(letta)
    with pytest.raises(UnprocessableEntityError):
        letta.agents.identities.attach("not-an-id", agent_id=agent.id)

    with Letta(base_url=live_server_url, api_key=create_api_key(mallory)[1], max_retries=0) as intruder:
        theirs = intruder.post(
            "/v1/identities/", body={"identifier_key": "eve", "name": "Eve", "identity_type": "user"}, cast_to=OBJ
        )
        assert intruder.get("/v1/identities/", cast_to=LIST) == [theirs]
    with pytest.raises(NotFoundError):
        letta.agents.identities.attach(theirs["id"], agent_id=agent.id)
    with pytest.raises(NotFoundError):
        letta.agents.update(agent.id, identity_ids=[theirs["id"]])
    assert list(letta.agents.list(identifier_keys=["eve"])) == []
