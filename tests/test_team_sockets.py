"""The agent page's websocket with roles (issue 14): every member may listen, another organization may not;
presence shows who else has the agent open and which block each edits (viewers cannot claim to edit); a removed
member's open socket closes at once."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts import members
from accounts.actions import create_user
from accounts.models import Membership
from ade.asgi import application
from agents.actions import create_agent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_sessions_ended")]


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(agent_id, user):
    cookie = await database_sync_to_async(session_cookie)(user)
    headers = [(b"origin", b"http://testserver"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, f"/ws/agents/{agent_id}/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def presence_until(communicator, wanted, seen=None):
    """Presence pushes until one satisfies `wanted` (each push is the whole bar); all of them go to `seen`."""
    while True:
        html = await communicator.receive_from(timeout=5)
        if 'id="presence"' in html:
            if seen is not None:
                seen.append(html)
            if wanted(html):
                return html


@pytest.fixture
def team(org, alice):
    editor = create_user("eddie", "correct horse battery", organization=org, role="editor")
    viewer = create_user("vera", "correct horse battery", organization=org, role="viewer")
    agent = create_agent(alice, {"name": "shared", "memory_blocks": [{"label": "human", "value": "Ann"}]})
    return {"owner": alice, "editor": editor, "viewer": viewer, "agent": agent, "block": agent.blocks.get()}


async def test_presence_shows_who_edits_which_block_and_goes_when_a_tab_closes(team):
    agent, block = team["agent"], team["block"]
    owner, _, _ = await connect(agent.id, team["owner"])
    editor, connected, _ = await connect(agent.id, team["editor"])
    assert connected
    await presence_until(owner, lambda html: 'data-user="' + team["editor"].pk + '"' in html)
    await editor.send_to(text_data=json.dumps({"presence": "editing", "block_id": block.id}))
    html = await presence_until(owner, lambda html: f'data-block="{block.id}"' in html)
    assert "eddie" in html
    # the newcomer learns who was there before it
    await presence_until(editor, lambda html: "alice" in html)

    viewer, connected, _ = await connect(agent.id, team["viewer"])
    assert connected  # viewers may watch
    await presence_until(owner, lambda html: "vera" in html)
    await viewer.send_to(text_data=json.dumps({"presence": "editing", "block_id": block.id}))
    await viewer.disconnect()
    seen = []
    await presence_until(owner, lambda html: "vera" not in html, seen)  # gone once the tab closed
    # between the viewer's claim and its tab closing, only eddie was ever shown on the block
    assert seen and all(html.count(f'data-block="{block.id}"') == 1 for html in seen)
    await editor.disconnect()
    await presence_until(owner, lambda html: "eddie" not in html)
    await owner.disconnect()


async def test_another_organization_cannot_listen(team, mallory):
    _, connected, code = await connect(team["agent"].id, mallory)
    assert not connected and code == 4404


async def test_a_removed_members_open_page_closes_at_once(team):
    editor, connected, _ = await connect(team["agent"].id, team["editor"])
    assert connected
    member_id = await database_sync_to_async(
        lambda: Membership.objects.get(user=team["editor"], organization_id=team["owner"].organization_id).id
    )()
    await database_sync_to_async(members.remove_member)(team["owner"], member_id)
    while True:
        output = await editor.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4403
