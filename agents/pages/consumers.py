"""The websocket of an agent page: joins the agent's channel group and forwards each event as HTML that htmx
swaps in out of band (see agents/pages/live.py). Authenticated by the session; another organization's agent is
refused like a missing one, and the socket closes as soon as its user loses access (removed from the organization:
`access_changed` on their user group). It also carries presence (agents/pages/presence.py): who else has this
agent open and which block each one is editing."""

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.permissions import allows, forget_roles, touch_membership
from ade.errors import NotFound
from ade.events import agent_group, folder_group, user_group
from ade.websockets import still_signed_in
from agents.pages.live import PageStream
from agents.pages.presence import Presence
from agents.queries import get_agent_for

CLOSE_NOT_FOUND = 4404
CLOSE_SIGNED_OUT = 4401
CLOSE_NO_ACCESS = 4403


@database_sync_to_async
def _folder_groups(agent_id: str) -> set[str]:
    from memory.models import Folder

    return {folder_group(f) for f in Folder.objects.filter(agentfolder__agent_id=agent_id).values_list("id", flat=True)}


@database_sync_to_async
def _can(user, agent_id: str, action: str = "read") -> bool:
    if not user or not user.is_authenticated:
        return False
    forget_roles(user)  # the role may have changed since this socket opened
    try:
        agent = get_agent_for(user, agent_id)
    except NotFound:
        return False
    touch_membership(user, agent.organization_id)
    return allows(user, action, agent.organization_id)


class AgentConsumer(AsyncWebsocketConsumer):
    group = None
    folders: set[str] = frozenset()

    async def connect(self):
        agent_id = self.scope["url_route"]["kwargs"]["agent_id"]
        user = self.scope.get("user")
        if not await _can(user, agent_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.agent_id, self.group = agent_id, agent_group(agent_id)
        query = parse_qs(self.scope.get("query_string", b"").decode(errors="replace"))
        self.page = PageStream(
            agent_id,
            conversation_id=(query.get("conversation") or [""])[0][:64],
            left=(query.get("left") or [""])[0][:20],
        )
        self.presence = Presence(self.channel_name, user)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self._follow_folders()
        await self.accept()
        await self._announce("hello")

    async def disconnect(self, code):
        if self.group:
            await self._announce("bye")
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(user_group(self.scope["user"].pk), self.channel_name)
            for group in self.folders:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def _follow_folders(self):
        """Ingestion progress is sent to each folder's group: follow the folders attached to this agent."""
        wanted = await _folder_groups(self.agent_id)
        for group in wanted - self.folders:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.folders - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.folders = wanted

    async def receive(self, text_data=None, bytes_data=None):
        """Pages send only presence (`{"presence": "editing", "block_id": ...}` or `{"presence": "idle"}`) and the
        tab their left panel shows (`{"left": "tools"}`). Every write goes through the HTTP views; a viewer cannot
        claim to be editing."""
        try:
            message = json.loads(text_data or "{}")
        except ValueError:
            return
        if isinstance(message, dict) and isinstance(message.get("left"), str):
            self.page.left = message["left"][:20]  # the left panel's tab now: pushes refresh only what it shows
            return
        if not isinstance(message, dict) or message.get("presence") not in ("editing", "idle"):
            return
        block_id = str(message.get("block_id") or "")[:64] if message["presence"] == "editing" else ""
        if block_id and not await _can(self.scope["user"], self.agent_id, "edit"):
            return
        self.presence.mine["block_id"] = block_id
        await self._announce("update")

    async def _announce(self, kind: str, to: str | None = None):
        message = {"type": "presence.message", "kind": kind, **self.presence.mine}
        if to:
            await self.channel_layer.send(to, message)
        else:
            await self.channel_layer.group_send(self.group, message)

    async def presence_message(self, message):
        if message["channel"] == self.channel_name:
            return
        if message["kind"] == "hello":  # a newcomer: tell them who is here
            await self._announce("here", to=message["channel"])
        if self.presence.apply(message):
            await self.send(text_data=self.presence.render())

    async def engram_event(self, message):
        if not await still_signed_in(self.scope):  # logged out, expired, password changed or deactivated since
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        if message["event"].get("type") == "access_changed":
            if not await _can(self.scope["user"], self.agent_id):
                await self.close(code=CLOSE_NO_ACCESS)
            return
        if message["event"].get("type") == "agent_updated":  # a folder may have been attached or detached
            await self._follow_folders()
        html = await database_sync_to_async(self.page.render)(message["event"])
        if html:
            await self.send(text_data=html)
