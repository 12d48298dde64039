"""`/ws/evals/<id>/`: one eval's progress for the people of its organization. Each `eval_progress` event
(evals.events) becomes HTML that htmx swaps in out of band: the progress block, and the row of the sample that
finished. On connect the current state is sent at once, so samples finished before the socket opened are not
missed. Like the agent page's socket it closes when its session ends (4401) or its user loses access (4403)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from accounts.permissions import forget_roles
from ade.errors import DomainError
from ade.events import user_group
from ade.websockets import still_signed_in
from evals.actions import get_eval_for
from evals.events import eval_group
from evals.render import render_eval

CLOSE_NOT_FOUND = 4404
CLOSE_SIGNED_OUT = 4401
CLOSE_NO_ACCESS = 4403


@database_sync_to_async
def _current(user, eval_id: str) -> dict | None:
    if not user or not user.is_authenticated:
        return None
    forget_roles(user)  # the role may have changed since the socket opened
    try:
        return render_eval(get_eval_for(user, eval_id))
    except DomainError:
        return None


def render_progress(event: dict) -> list[str]:
    """The HTML frames of one progress event: the finished sample's row when there is one, then the progress block.
    Apart: htmx parses a frame as one fragment, and a table row after a div would be dropped by the HTML parser."""
    run = {**event, "id": event.get("id") or event.get("eval_id")}  # an event names the eval `eval_id`
    frames = (
        [render_to_string("evals/_result_row.html", {"r": event["result"], "oob": True})] if event.get("result") else []
    )
    return [*frames, render_to_string("evals/_progress.html", {"run": run, "oob": True})]


class EvalConsumer(AsyncWebsocketConsumer):
    group = None

    async def connect(self):
        eval_id = self.scope["url_route"]["kwargs"]["eval_id"]
        current = await _current(self.scope.get("user"), eval_id)
        if current is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.eval_id, self.group = eval_id, eval_group(eval_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(user_group(self.scope["user"].pk), self.channel_name)
        await self.accept()
        for frame in render_progress(current):
            await self.send(text_data=frame)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(user_group(self.scope["user"].pk), self.channel_name)

    async def engram_event(self, message):
        event = message["event"]
        if not await still_signed_in(self.scope):
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        if event.get("type") == "access_changed":  # removed from the organization, or another role
            if await _current(self.scope["user"], self.eval_id) is None:
                await self.close(code=CLOSE_NO_ACCESS)
            return
        if event.get("type") != "eval_progress":
            return
        for frame in await database_sync_to_async(render_progress)(event):
            await self.send(text_data=frame)
