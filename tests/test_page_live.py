"""The agent page's websocket: session-authenticated, org-scoped, and what it pushes is the partial a fresh
render of the page shows, swapped in by the same element id."""

import json
import re
from html.parser import HTMLParser

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.template.loader import render_to_string
from django.test import Client

from ade.asgi import application
from agents import runs
from agents.actions import create_agent
from agents.pages import panels
from agents.pages.templates_catalog import BY_KEY
from memory.actions import Actor, update_block

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_sessions_ended")]


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(agent_id, user=None, query=""):
    headers = [(b"origin", b"http://testserver")] + ([(b"cookie", session_cookie(user))] if user else [])
    communicator = WebsocketCommunicator(application, f"/ws/agents/{agent_id}/{query}", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def without_times(html: str) -> str:
    """The compiled context states when it was compiled; a fresh render a second later differs only there."""
    html = re.sub(r' data-at="\d+"', "", html)  # render stamps
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [AP]M", "<time>", html)


class _TopLevel(HTMLParser):
    """The top-level elements of a pushed message (the ws extension swaps each one out of band)."""

    def __init__(self):
        super().__init__()
        self.depth, self.tops = 0, []

    def handle_starttag(self, tag, attrs):
        if self.depth == 0:
            self.tops.append(dict(attrs))
        if tag not in ("input", "br", "img", "meta", "link", "hr"):
            self.depth += 1

    def handle_endtag(self, tag):
        self.depth -= 1


def assert_every_element_is_addressed(html: str) -> None:
    parser = _TopLevel()
    parser.feed(html)
    assert parser.tops
    for attrs in parser.tops:
        assert "hx-swap-oob" in attrs and (attrs.get("id") or ":" in attrs["hx-swap-oob"]), attrs


@pytest.fixture
def agent(alice):
    return create_agent(alice, BY_KEY["personal_assistant"].spec("Live one"))


async def test_only_signed_in_members_of_the_organization_connect(agent, alice, mallory):
    for user in (None, mallory):
        communicator, connected, code = await connect(agent.id, user)
        assert not connected and code == 4404
    communicator, connected, _ = await connect(agent.id, alice)
    assert connected
    await communicator.disconnect()


async def test_block_edit_by_someone_else_is_pushed_as_the_fresh_partial(agent, alice, bob):
    communicator, connected, _ = await connect(agent.id, alice)
    assert connected
    block = await database_sync_to_async(lambda: agent.blocks.get(label="human"))()
    await database_sync_to_async(update_block)(
        agent.organization, block.id, {"value": "Name: Bob's friend"}, actor=Actor.user(bob)
    )
    pushed = await communicator.receive_from(timeout=10)

    def fresh():
        block.refresh_from_db()
        editor = render_to_string("agents/partials/block.html", {**panels.block(agent, block), "oob": True})
        context = render_to_string("agents/partials/context.html", {**panels.context_window(agent), "oob": True})
        return editor + context

    assert without_times(pushed) == without_times(await database_sync_to_async(fresh)())
    assert_every_element_is_addressed(pushed)
    assert f'id="{block.id}" hx-swap-oob="true"' in pushed and "Name: Bob&#x27;s friend" in pushed
    assert re.search(r'id="context-window"[^>]*hx-swap-oob="true"', pushed)
    await communicator.disconnect()


async def test_a_turn_streams_tokens_then_its_final_render(agent, alice, scripted_llm):
    communicator, connected, _ = await connect(agent.id, alice)
    assert connected
    run = await database_sync_to_async(runs.start_turn)(
        alice, agent.id, [{"role": "user", "content": "hello"}], options={"stream_tokens": True}
    )
    await database_sync_to_async(runs.execute)(run.id)
    frames = []
    while not any(f'id="turn-{run.id}" hx-swap-oob="true"' in f for f in frames):
        frames.append(await communicator.receive_from(timeout=10))
    assert f'beforeend:#chat-inner"><div class="turn" id="turn-{run.id}"' in frames[0]  # the shell comes first
    reply_id = re.search(r'class="bubble" id="(m-[0-9a-f-]+)-text"', "".join(frames)).group(1)
    deltas = [f for f in frames if f"beforeend:#{reply_id}-text" in f]
    assert len(deltas) >= 3  # the reply arrived in pieces
    final = frames[-1]
    for frame in frames:
        assert_every_element_is_addressed(frame)

    def fresh():
        from agents.models import Run

        turn = panels.turn_for_run(agent, Run.objects.get(id=run.id))
        return render_to_string("agents/partials/turn.html", {"agent": agent, "turn": turn, "oob": True})

    assert without_times(final).startswith(without_times(await database_sync_to_async(fresh)()))
    assert ">end_turn<" in final and re.search(r'id="context-window"[^>]*hx-swap-oob="true"', final)
    streamed = "".join(re.sub(r"<[^>]+>", "", f) for f in [frames[0]] + deltas)
    reply = re.search(rf'id="{reply_id}-text">([^<]*)<', final).group(1)
    assert reply.replace("&#x27;", "'") in streamed.replace("&#x27;", "'").replace("\n", "")
    await communicator.disconnect()


async def test_tool_attachments_by_someone_else_refresh_the_tools_region(agent, alice, bob):
    from agents.actions import detach_tool

    communicator, connected, _ = await connect(agent.id, alice, "?left=tools")
    assert connected
    tool = await database_sync_to_async(lambda: agent.tools.get(name="archival_memory_search"))()
    await database_sync_to_async(detach_tool)(bob, agent.id, tool.id)
    pushed = await communicator.receive_from(timeout=10)
    assert_every_element_is_addressed(pushed)
    tools_region = re.search(r'<div id="tools-attached"[^>]*hx-swap-oob="true">.*?</ul>', pushed, re.S).group(0)
    assert "archival_memory_insert" in tools_region and "archival_memory_search" not in tools_region
    assert (
        re.search(r'id="memory-blocks"[^>]*hx-swap-oob="true"', pushed)
        and 'id="agent-title" hx-swap-oob="true"' in pushed
    )
    assert 'id="folders-attached"' not in pushed  # the page shows the tools tab: no target for the folders
    await communicator.disconnect()


async def test_agent_updates_refresh_only_the_left_tab_the_page_shows(agent, alice, bob):
    """#15 small things: every agent update pushed #tools-attached and #folders-attached, which a page showing
    another tab lacks (htmx:oobErrorNoTarget). The page names its tab on connect and when it switches."""
    from agents.actions import update_agent

    communicator, connected, _ = await connect(agent.id, alice, "?left=settings")
    assert connected

    async def pushed_after_an_update(description):
        await database_sync_to_async(update_agent)(bob, agent.id, {"description": description})
        return await communicator.receive_from(timeout=10)

    first = await pushed_after_an_update("one")
    assert 'id="tools-attached"' not in first and 'id="folders-attached"' not in first
    assert 'id="agent-title" hx-swap-oob="true"' in first
    await communicator.send_to(text_data=json.dumps({"left": "folders"}))
    second = await pushed_after_an_update("two")
    assert 'id="folders-attached"' in second and 'id="tools-attached"' not in second
    await communicator.disconnect()
