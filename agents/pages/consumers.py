"""The websocket of an agent page: joins the agent's channel group and forwards each event as HTML that htmx
swaps in out of band (see agents/live.py). Authenticated by the session; another organization's agent is
refused like a missing one."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from ade.errors import NotFound
from ade.events import agent_group
from ade.websockets import still_signed_in
from agents.pages.live import PageStream
from agents.queries import get_agent_for

CLOSE_NOT_FOUND = 4404
CLOSE_SIGNED_OUT = 4401


@database_sync_to_async
def _can_see(user, agent_id: str) -> bool:
    if not user or not user.is_authenticated:
        return False
    try:
        get_agent_for(user, agent_id)
    except NotFound:
        return False
    return True


class AgentConsumer(AsyncWebsocketConsumer):
    group = None

    async def connect(self):
        agent_id = self.scope["url_route"]["kwargs"]["agent_id"]
        if not await _can_see(self.scope.get("user"), agent_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = agent_group(agent_id)
        self.page = PageStream(agent_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """Pages only listen; anything they send is ignored (writes go through the HTTP views)."""

    async def engram_event(self, message):
        if not await still_signed_in(self.scope):  # logged out, expired, password changed or deactivated since
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        html = await database_sync_to_async(self.page.render)(message["event"])
        if html:
            await self.send(text_data=html)
