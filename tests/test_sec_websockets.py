"""Websocket revocation and origin (issue 10, medium): a page's socket stops receiving when its session ends or
its user is deactivated; the Origin check compares the port too; an unknown path is closed cleanly."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from ade.asgi import application
from ade.events import agent_group
from agents.actions import create_agent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_sessions_ended")]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def connect(path, client=None, origin=b"http://127.0.0.1:8000", host=b"127.0.0.1:8000"):
    headers = [(b"origin", origin), (b"host", host)]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def push(agent_id):
    from channels.layers import get_channel_layer

    event = {"type": "agent_deleted", "agent_id": agent_id}  # renders a notice whatever the agent holds
    await get_channel_layer().group_send(agent_group(agent_id), {"type": "engram.event", "event": event})


@pytest.mark.parametrize("end", ["logout", "deactivate", "password"])
async def test_a_socket_is_closed_when_its_session_ends(alice, end, monkeypatch):
    monkeypatch.setattr("ade.websockets.RECHECK_SECONDS", 0)  # read the session on every push in this test
    agent = await database_sync_to_async(create_agent)(alice, {"name": "a"})
    client = await database_sync_to_async(signed_in)(alice)
    communicator, connected, _ = await connect(f"/ws/agents/{agent.id}/", client)
    assert connected
    if end == "logout":
        await database_sync_to_async(client.post)("/logout/")
    elif end == "deactivate":
        alice.is_active = False
        await database_sync_to_async(alice.save)()
    else:
        alice.set_password("a brand new password 42")
        await database_sync_to_async(alice.save)()
    await push(agent.id)
    message = await communicator.receive_output(timeout=5)
    assert message == {"type": "websocket.close", "code": 4401}


async def test_a_live_session_keeps_receiving(alice):
    agent = await database_sync_to_async(create_agent)(alice, {"name": "a"})
    client = await database_sync_to_async(signed_in)(alice)
    communicator, connected, _ = await connect(f"/ws/agents/{agent.id}/", client)
    assert connected
    await push(agent.id)
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.send", message
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (b"http://127.0.0.1:8000", b"127.0.0.1:8000", True),
        (b"http://127.0.0.1:9999", b"127.0.0.1:8000", False),  # another app on the same host
        (b"https://127.0.0.1:8000", b"127.0.0.1:8000", False),
        (b"http://evil.example:8000", b"127.0.0.1:8000", False),
        (b"null", b"127.0.0.1:8000", False),
    ],
)
async def test_the_origin_must_match_scheme_host_and_port(alice, origin, host, ok):
    agent = await database_sync_to_async(create_agent)(alice, {"name": "a"})
    client = await database_sync_to_async(signed_in)(alice)
    communicator, connected, _ = await connect(f"/ws/agents/{agent.id}/", client, origin=origin, host=host)
    assert connected is ok
    await communicator.disconnect()


async def test_an_unknown_websocket_path_is_closed_cleanly():
    communicator, connected, code = await connect("/ws/nothing-here/")
    assert not connected and code == 4404
