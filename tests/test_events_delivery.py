"""Live events on the embedded default (ade/events.send_now with the in-process channel layer): a page's socket
waits on the server's event loop, and an event sent from a turn's or an import's thread reaches it at once. It
used to go through a loop of the sending thread's own, which does not wake the server's: the page got it when
daphne next woke, up to a second later."""

import asyncio
import concurrent.futures
import threading
import time

import pytest
from channels.layers import get_channel_layer

from ade import events
from agents.actions import create_agent
from agents.pages.templates_catalog import blank_spec
from memory.actions import Actor, update_block
from tests.test_page_live import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_sessions_ended")]
IN_PROCESS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def in_process_layer(settings, monkeypatch):
    settings.CHANNEL_LAYERS = IN_PROCESS  # the embedded default's layer, also on the Redis runs
    monkeypatch.setattr(events, "_serving_loop", None)


def test_an_event_from_another_thread_wakes_the_servers_loop(in_process_layer):
    loop, ready, received = asyncio.new_event_loop(), threading.Event(), concurrent.futures.Future()

    async def serve():
        events.serve_here()
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("agent.a", channel)
        ready.set()
        received.set_result(await layer.receive(channel))  # nothing else runs on this loop to wake it

    server = threading.Thread(target=loop.run_forever, daemon=True)  # a server's loop runs on after each event
    server.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert ready.wait(5)
    started = time.monotonic()
    events.send_now("agent.a", {"n": 1})
    assert received.result(timeout=3)["event"] == {"n": 1}
    assert time.monotonic() - started < 0.5
    loop.call_soon_threadsafe(loop.stop)
    server.join(5)
    loop.close()


async def test_blocks_edited_in_another_thread_reach_the_agent_page_at_once(in_process_layer, alice, bob):
    from channels.db import database_sync_to_async

    agent = await database_sync_to_async(create_agent)(alice, blank_spec("Live"))
    communicator, connected, _ = await connect(agent.id, alice)
    assert connected
    block = await database_sync_to_async(lambda: agent.blocks.get(label="human"))()
    waits = []
    for value in ("Ada", "Ada, seen live"):  # the first push also loads what a page render needs once
        started = time.monotonic()
        threading.Thread(  # as a turn's thread edits memory
            target=update_block,
            args=(agent.organization, block.id, {"value": value}),
            kwargs={"actor": Actor.user(bob)},
            daemon=True,
        ).start()
        pushed = ""
        while f"{value}</textarea>" not in pushed:
            pushed = await communicator.receive_from(timeout=5)
        waits.append(time.monotonic() - started)
    assert waits[1] < 0.5, waits
    await communicator.disconnect()


@pytest.mark.services
def test_a_write_whose_live_update_cannot_be_sent_is_stored_and_answered(settings, alice_api, caplog):
    """The channel layer (Redis) unreachable: a block edit commits, and its live update is lost and logged. It was a
    500 after the commit, inviting a client to write again what was already written."""
    from memory.models import Block
    from tests.faultkit import free_port

    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [nobody]}}
    }
    agent = alice_api.post("/v1/agents/", {"name": "quiet", "memory_blocks": [{"label": "human", "value": "Name: ?"}]})
    assert agent.status_code == 200, agent.content
    r = alice_api.patch(f"/v1/agents/{agent.json()['id']}/core-memory/blocks/human", {"value": "Name: Ada"})
    assert r.status_code == 200, r.content
    assert Block.objects.get(agents__id=agent.json()["id"], label="human").value == "Name: Ada"
    assert "live updates are not reaching the pages" in caplog.text
