"""Roles (issue 14): a role × action matrix over the REST API and the HTMX endpoints, for owner, admin, editor and
viewer. An allowed write succeeds; a denied one answers 403 and changes nothing (no audit row either); another
organization's object answers 404 and changes nothing. Read-only keys read and nothing else."""

import pytest
from django.urls import reverse

from accounts.actions import create_api_key, create_user
from accounts.models import AuditEntry, Invitation, Membership
from agents.actions import create_agent
from agents.models import Agent, Run
from memory.models import Block, Folder
from tests.apiclient import ApiClient
from tools.models import Tool

ROLES = ["owner", "admin", "editor", "viewer"]
RANK = {role: i for i, role in enumerate(reversed(ROLES))}  # viewer 0 … owner 3
LEAST = {"read": "viewer", "chat": "editor", "edit": "editor", "manage": "admin", "own": "owner"}
HTMX = {"HTTP_HX_REQUEST": "true"}
TOOL = 'def shout(text: str) -> str:\n    """Shout.\n\n    Args:\n        text: what to shout\n    """\n    return text.upper()\n'


def allowed(role: str, action: str) -> bool:
    return RANK[role] >= RANK[LEAST[action]]


def state(org_id: str) -> tuple:
    """Everything a write in these tests could change, in one comparable value."""
    return (
        sorted(Agent.objects.filter(organization_id=org_id).values_list("id", "name", "version")),
        sorted(Block.objects.filter(organization_id=org_id).values_list("id", "value", "version")),
        Tool.objects.filter(organization_id=org_id).count(),
        Folder.objects.filter(organization_id=org_id).count(),
        Run.objects.filter(organization_id=org_id).count(),
        sorted(Membership.objects.filter(organization_id=org_id).values_list("user__username", "role")),
        Invitation.objects.filter(organization_id=org_id).count(),
        AuditEntry.objects.filter(organization_id=org_id).count(),
    )


@pytest.fixture
def team(org, alice):
    """alice owns `org`; one member per role, each with an API key; two agents to write to."""
    members = {"owner": alice}
    for role in ROLES[1:]:
        members[role] = create_user(f"{role}-member", "correct horse battery", organization=org, role=role)
    agent = create_agent(alice, {"name": "shared", "memory_blocks": [{"label": "human", "value": "Ann"}]})
    doomed = create_agent(alice, {"name": "doomed"})
    return {"org": org, "members": members, "agent": agent, "doomed": doomed, "block": agent.blocks.get()}


def rest_writes(team):
    agent, doomed, block = team["agent"].id, team["doomed"].id, team["block"].id
    return [
        ("create agent", "edit", lambda api: api.post("/v1/agents/", {"name": "new one"})),
        ("rename agent", "edit", lambda api: api.patch(f"/v1/agents/{agent}", {"name": "renamed"})),
        ("edit block", "edit", lambda api: api.patch(f"/v1/blocks/{block}", {"value": "edited"})),
        ("create block", "edit", lambda api: api.post("/v1/blocks/", {"label": "notes", "value": "v"})),
        ("create tool", "edit", lambda api: api.post("/v1/tools/", {"source_code": TOOL})),
        ("create folder", "edit", lambda api: api.post("/v1/folders/", {"name": "docs"})),
        (
            "chat",
            "chat",
            lambda api: api.post(f"/v1/agents/{agent}/messages", {"messages": [{"role": "user", "content": "hi"}]}),
        ),
        ("delete agent", "edit", lambda api: api.delete(f"/v1/agents/{doomed}")),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_rest_writes_follow_the_role(team, role, scripted_llm):
    api = ApiClient(create_api_key(team["members"][role], "matrix")[1])
    for name, action, call in rest_writes(team):
        before = state(team["org"].id)
        response = call(api)
        if allowed(role, action):
            assert response.status_code < 300, (role, name, response.content)
            assert state(team["org"].id) != before, (role, name)
            assert AuditEntry.objects.filter(organization=team["org"]).count() > before[-1] or action == "chat"
        else:
            assert response.status_code == 403, (role, name, response.status_code)
            assert "may not" in response.json()["detail"]
            assert state(team["org"].id) == before, (role, name)
    assert api.get(f"/v1/agents/{team['agent'].id}").status_code == 200  # every role reads


@pytest.mark.parametrize("role", ROLES)
def test_the_audit_log_route_is_for_admins_and_owners(team, role):
    api = ApiClient(create_api_key(team["members"][role])[1])
    response = api.get("/v1/audit-log/", {"action": "agent.create"})
    if allowed(role, "manage"):
        assert response.status_code == 200
        assert {e["summary"] for e in response.json()} == {"shared", "doomed"}
        assert {e["actor_name"] for e in response.json()} == {"alice"}
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_another_organizations_objects_are_404_and_unchanged(team, role, mallory):
    theirs = create_agent(mallory, {"name": "theirs", "memory_blocks": [{"label": "human", "value": "Eve"}]})
    block = theirs.blocks.get()
    api = ApiClient(create_api_key(team["members"][role])[1])
    before = state(mallory.organization_id)
    assert api.patch(f"/v1/agents/{theirs.id}", {"name": "stolen"}).status_code == 404
    assert api.patch(f"/v1/blocks/{block.id}", {"value": "stolen"}).status_code == 404
    assert api.delete(f"/v1/agents/{theirs.id}").status_code == 404
    assert state(mallory.organization_id) == before


def test_a_read_only_key_reads_and_nothing_else(team):
    key = create_api_key(team["members"]["owner"], "dashboards", read_only=True)[1]
    api = ApiClient(key)
    before = state(team["org"].id)
    assert api.get(f"/v1/agents/{team['agent'].id}").status_code == 200
    response = api.patch(f"/v1/agents/{team['agent'].id}", {"name": "renamed"})
    assert response.status_code == 403 and "read-only" in response.json()["detail"]
    assert api.post("/v1/agents/", {"name": "x"}).status_code == 403
    assert state(team["org"].id) == before


def page_writes(team):
    agent, doomed, block = team["agent"], team["doomed"].id, team["block"]
    return [
        (
            "save block",
            "edit",
            lambda c: c.post(
                reverse("agents:block_save", args=[agent.id, block.id]),
                {"version": Block.objects.get(id=block.id).version, "value": "from page"},
                **HTMX,
            ),
        ),
        (
            "new block",
            "edit",
            lambda c: c.post(
                reverse("agents:block_create", args=[agent.id]), {"label": "p", "value": "x", "limit": 500}, **HTMX
            ),
        ),
        (
            "invite editor",
            "manage",
            lambda c: c.post(reverse("accounts:members"), {"email": "e@example.com", "role": "editor"}),
        ),
        (
            "invite admin",
            "own",
            lambda c: c.post(reverse("accounts:members"), {"email": "a@example.com", "role": "admin"}),
        ),
        ("delete agent", "edit", lambda c: c.post(reverse("agents:delete", args=[doomed]), **HTMX)),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_page_writes_follow_the_role(team, role, client):
    client.force_login(team["members"][role])
    for name, action, call in page_writes(team):
        before = state(team["org"].id)
        response = call(client)
        if allowed(role, action):
            assert response.status_code < 400, (role, name, response.status_code)
            assert state(team["org"].id) != before, (role, name)
        else:
            assert response.status_code == 403, (role, name, response.status_code)
            assert state(team["org"].id) == before, (role, name)


def test_a_viewer_cannot_chat_in_the_simulator_unless_the_organization_allows_it(team, client):
    viewer = team["members"]["viewer"]
    client.force_login(viewer)
    url = reverse("agents:send", args=[team["agent"].id])
    assert client.post(url, {"text": "hello"}, **HTMX).status_code == 403
    assert not Run.objects.filter(agent=team["agent"]).exists()
    api = ApiClient(create_api_key(viewer)[1])
    assert (
        api.post(
            f"/v1/agents/{team['agent'].id}/messages/async", {"messages": [{"role": "user", "content": "hi"}]}
        ).status_code
        == 403
    )
    team["org"].viewers_can_chat = True
    team["org"].save()
    response = api.post(
        f"/v1/agents/{team['agent'].id}/messages/async", {"messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200
    assert Run.objects.filter(agent=team["agent"], created_by=viewer).count() == 1


def test_a_viewer_sees_read_only_controls(team, client):
    client.force_login(team["members"]["viewer"])
    page = client.get(reverse("agents:workspace", args=[team["agent"].id])).content.decode()
    assert "data-readonly" in page
    assert "+ New agent" not in client.get(reverse("agents:list")).content.decode()
    client.force_login(team["members"]["editor"])
    page = client.get(reverse("agents:workspace", args=[team["agent"].id])).content.decode()
    assert "data-readonly" not in page
    assert "+ New agent" in client.get(reverse("agents:list")).content.decode()
