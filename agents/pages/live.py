"""What an agent page's websocket sends: for each event of the agent's channel group, the same partials the
views render, as htmx out-of-band swaps addressed by stable element ids. Nothing here invents an event.

One `PageStream` per open page remembers which turns and message parts that page has been sent, so a token
delta is appended to its card and a new part gets a card of its own."""

from django.template.loader import render_to_string
from django.utils.html import escape, format_html

from agents.models import Agent, Run
from agents.pages import panels
from agents.templatetags.ade import message_dom_id
from memory.models import File

TERMINAL = ("stop_reason", "usage_statistics", "error_message", "ping")
DELTA_FIELDS = {
    "assistant_message": ("content", "text"),
    "reasoning_message": ("reasoning", "text"),
    "tool_call_message": ("tool_call", "args"),
    "approval_request_message": ("tool_call", "args"),
}


def append_to(selector: str, html: str) -> str:
    return format_html('<div hx-swap-oob="beforeend:{}">{}</div>', selector, html)


def _delta_text(event: dict, field: str) -> str:
    value = event.get(field)
    if field == "tool_call":
        return (value or {}).get("arguments") or ""
    if isinstance(value, list):
        return "".join(p.get("text", "") for p in value if isinstance(p, dict))
    return value or ""


class PageStream:
    def __init__(self, agent_id: str, conversation_id: str = "", left: str = ""):
        self.agent_id = agent_id
        self.left = left  # the tab the page's left panel shows (settings, tools, folders): only it gets refreshes
        self.conversation_id = conversation_id or None  # the conversation the page shows (None: the agent's own)
        self.runs: set[str] = set()
        self.elsewhere: set[str] = set()  # turns of the agent's other conversations: not shown here
        self.parts: set[str] = set()
        self.calls: dict[str, str] = {}  # tool_call_id → tool name, from the streamed calls (their returns lack it)

    def render(self, event: dict) -> str:
        handler = getattr(self, f"on_{event.get('type', '')}", None)
        return handler(event) if handler else ""

    def agent(self) -> Agent | None:
        """The agent, standing for the page's conversation (its in-context list) when the page shows one."""
        agent = Agent.objects.filter(id=self.agent_id).first()
        if agent is not None and self.conversation_id:
            from agents.models import Conversation
            from agents.threads import use_thread

            try:
                use_thread(agent, self.conversation_id)
            except Conversation.DoesNotExist:
                pass
        return agent

    def _shown_here(self, run_id: str) -> bool:
        """Whether the run is a turn of the page's conversation (remembered, one query per run)."""
        if run_id in self.runs:
            return True
        if run_id in self.elsewhere:
            return False
        conversation = Run.objects.filter(id=run_id).values_list("conversation_id", flat=True).first()
        if conversation != self.conversation_id:
            self.elsewhere.add(run_id)
            return False
        return True

    # ---- turns ----

    def _turn(self, agent, run_id: str, *, oob: bool) -> str:
        run = Run.objects.filter(id=run_id, agent=agent).first()
        if run is None:
            return ""
        turn = panels.turn_for_run(agent, run)
        self.parts.update(message_dom_id(m) for m in turn["messages"])
        return render_to_string("agents/partials/turn.html", {"agent": agent, "turn": turn, "oob": oob})

    def on_run_event(self, event: dict) -> str:
        run_id, message = event["run_id"], event["event"]
        if not self._shown_here(run_id):
            return ""
        out = []
        if run_id not in self.runs:  # first news of a turn this page has not shown: its shell
            agent = self.agent()
            if agent is None:
                return ""
            self.runs.add(run_id)
            out.append(append_to("#chat-inner", self._turn(agent, run_id, oob=False)))
        kind = message.get("message_type")
        if kind in TERMINAL or kind == "user_message":
            return "".join(out)
        if kind == "tool_call_message" and (message.get("tool_call") or {}).get("name"):
            self.calls[message["tool_call"].get("tool_call_id") or ""] = message["tool_call"]["name"]
        if kind == "tool_return_message":
            message = {**message, "tool_name": self.calls.get(message.get("tool_call_id") or "", "")}
            if message["tool_name"] == "send_message" and message.get("status") == "success":
                return "".join(out)  # as in the transcript (panels._parts): the reply is already shown
        dom = message_dom_id(message)
        if dom in self.parts and kind in DELTA_FIELDS:
            field, suffix = DELTA_FIELDS[kind]
            out.append(append_to(f"#{dom}-{suffix}", escape(_delta_text(message, field))))
        elif dom not in self.parts:
            self.parts.add(dom)
            card = render_to_string("agents/partials/message.html", {"m": message, "agent": {"id": self.agent_id}})
            out.append(append_to(f"#turn-{run_id}-live", card))
        return "".join(out)

    def on_run_updated(self, event: dict) -> str:
        """A turn ended: its authoritative render from the database, and the context window it changed."""
        run_id = event["run_id"]
        agent = self.agent() if self._shown_here(run_id) else None
        if agent is None:
            return ""
        if run_id in self.runs:
            turn = self._turn(agent, run_id, oob=True)
        else:
            self.runs.add(run_id)
            turn = append_to("#chat-inner", self._turn(agent, run_id, oob=False))
        return turn + self._context(agent)

    # ---- memory ----

    def _context(self, agent) -> str:
        return render_to_string("agents/partials/context.html", {**panels.context_window(agent), "oob": True})

    def on_block_updated(self, event: dict) -> str:
        agent = self.agent()
        block = agent and agent.blocks.filter(id=event["block_id"]).first()
        if block is None:
            return ""
        return render_to_string(
            "agents/partials/block.html", {**panels.block(agent, block), "oob": True}
        ) + self._context(agent)

    def _blocks_changed(self, event: dict) -> str:
        agent = self.agent()
        if agent is None:
            return ""
        return render_to_string("agents/partials/memory.html", {**panels.memory(agent), "oob": True}) + self._context(
            agent
        )

    on_block_attached = on_block_detached = _blocks_changed

    # ---- the agent itself ----

    def on_agent_updated(self, event: dict) -> str:
        """Attachments, rules or settings changed: refresh the regions that show them (not the settings form,
        which someone may be editing), and an emptied conversation after a reset."""
        agent = self.agent()
        if agent is None:
            return ""
        out = [
            format_html('<span class="current truncate" id="agent-title" hx-swap-oob="true">{}</span>', agent.name),
            render_to_string("agents/partials/memory.html", {**panels.memory(agent), "oob": True}),
            self._context(agent),
        ]
        if self.left == "tools":  # a region the page does not show has no target there (htmx:oobErrorNoTarget)
            out.append(
                render_to_string("agents/partials/tools_attached.html", {**panels.tools_panel(agent), "oob": True})
            )
        elif self.left == "folders":
            out.append(
                render_to_string("agents/partials/folders_attached.html", {**panels.folders_panel(agent), "oob": True})
            )
        if len(agent.message_ids or []) <= 1 and not agent.runs.filter(status__in=panels.ACTIVE).exists():
            self.runs.clear()
            self.parts.clear()
            out.append(render_to_string("agents/partials/chat_log.html", {**panels.chat(agent), "oob": True}))
        return "".join(out)

    # ---- files (the consumer follows the folder groups of the agent's folders) ----

    def on_file_updated(self, event: dict) -> str:
        """Ingestion progress, live: the file's row as the folders panel draws it."""
        file = File.objects.filter(id=event["file_id"], folder__agents__id=self.agent_id).first()
        agent = file and self.agent()
        if agent is None:
            return ""
        # each step as the event tells it (the row may already be further along when this push is drawn)
        file.processing_status = event.get("status") or file.processing_status
        file.progress = event.get("progress") or 0
        file.error_message = event.get("error") or file.error_message
        return render_to_string("agents/partials/file_row.html", {"agent": agent, "file": file, "oob": True})

    def on_file_deleted(self, event: dict) -> str:
        return format_html('<li id="{}" hx-swap-oob="delete"></li>', event["file_id"])

    def on_agent_deleted(self, event: dict) -> str:
        return render_to_string("agents/partials/agent_gone.html", {})
