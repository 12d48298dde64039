"""An `.af` import from the ADE, off the request: the dialog opens a websocket on a signed ticket (the import's id
and its user) before the file is posted; the post starts the import on a background thread and answers at once;
progress (agents.agentfile.importer → `import_group(import_id)`) and the outcome arrive over that socket."""

import logging
import threading

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core import signing
from django.db import close_old_connections
from django.template.loader import render_to_string

from ade.errors import DomainError
from ade.events import send_now
from ade.ids import new_id
from agents.agentfile import import_agent_file
from agents.agentfile.importer import import_group

log = logging.getLogger(__name__)
SALT = "engram.agent-import"
TICKET_SECONDS = 6 * 3600


def new_ticket(user) -> str:
    return signing.dumps({"i": new_id("import"), "u": str(user.pk)}, salt=SALT)


def read_ticket(ticket: str, user) -> str | None:
    """The import id of a ticket issued to `user`, or None (forged, expired, someone else's)."""
    try:
        data = signing.loads(ticket or "", salt=SALT, max_age=TICKET_SECONDS)
    except signing.BadSignature:
        return None
    return data["i"] if user and user.is_authenticated and data.get("u") == str(user.pk) else None


def start_import(user, import_id: str, raw: bytes, **options) -> None:
    """Run the import on a thread of this process (the request returns at once) and announce how it ended."""

    def run():
        close_old_connections()
        try:
            agent_ids = import_agent_file(user, raw, import_id=import_id, **options)
            event = {"type": "import_done", "agent_id": agent_ids[0], "count": len(agent_ids)}
        except DomainError as exc:
            event = {"type": "import_failed", "error": exc.message}
        except Exception as exc:  # the person waiting must hear that it ended
            log.exception("import %s failed", import_id)
            event = {"type": "import_failed", "error": f"The import failed ({type(exc).__name__}); nothing was kept."}
        finally:
            close_old_connections()
        send_now(import_group(import_id), {**event, "import_id": import_id})

    threading.Thread(target=run, name=f"import-{import_id}", daemon=True).start()


class ImportConsumer(AsyncWebsocketConsumer):
    """`/ws/imports/<ticket>/`: the progress of one import, for the person who started it."""

    group = None

    async def connect(self):
        import_id = read_ticket(self.scope["url_route"]["kwargs"]["ticket"], self.scope.get("user"))
        if import_id is None:
            await self.close(code=4404)
            return
        self.group = import_group(import_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def engram_event(self, message):
        html = await database_sync_to_async(render_event)(message["event"])
        if html:
            await self.send(text_data=html)


def render_event(event: dict) -> str:
    kind = event.get("type")
    if kind not in ("import_progress", "import_done", "import_failed"):
        return ""
    return render_to_string("agents/partials/import_progress.html", {"event": event, "oob": True})
