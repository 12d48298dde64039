"""Reading an OpenAI chat request the way the scripted model does: message texts, memory blocks, and the
`Conversation` view of a request that the rules in `brain` work from. Pure functions, no I/O."""

import json
import re

AUTOMATED_PREFIX = "[This is an automated system message hidden from the user]"
MEMORY_EDIT_TOOLS = (
    "memory_replace",
    "core_memory_replace",
    "memory_insert",
    "core_memory_append",
    "memory",
    "memory_rethink",
)
_LINE_NUMBER = re.compile(r"^\s*\d+→ ?", re.MULTILINE)
_BLOCK = re.compile(
    r"<([\w./-]+)>\n<description>.*?</description>\n<metadata>.*?</metadata>\n"
    r"(?:<warning>.*?</warning>\n)?<value>\n?(.*?)\n?</value>\n</\1>",
    re.DOTALL,
)
STOP_WORDS = {
    "the",
    "a",
    "an",
    "about",
    "regarding",
    "earlier",
    "before",
    "yesterday",
    "today",
    "again",
    "me",
    "us",
    "we",
    "you",
    "of",
    "on",
    "concerning",
    "last",
    "time",
    "recently",
    "ago",
    "any",
    "anything",
    "all",
}


def text_of(content) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return ""


def parse_json(text: str):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def user_text(message: dict) -> str | None:
    """The human's words in a user message, or None for automated ones (heartbeats, alerts, summaries, login)."""
    text = text_of(message.get("content"))
    if text.startswith(AUTOMATED_PREFIX) or text.startswith("<system-alert>"):
        return None
    data = parse_json(text) if text.lstrip().startswith("{") else None
    if isinstance(data, dict) and "type" in data:
        return data.get("message") if data["type"] == "user_message" else None
    return text


def memory_blocks(system_text: str) -> dict[str, str]:
    """label → value of the blocks in the `<memory_blocks>` section (line numbers removed)."""
    start, end = system_text.find("<memory_blocks>"), system_text.find("</memory_blocks>")
    if start < 0 or end < 0:
        return {}
    section = system_text[start:end]
    return {m.group(1): _LINE_NUMBER.sub("", m.group(2)).strip() for m in _BLOCK.finditer(section)}


class Conversation:
    """The parts of a chat request the rules look at."""

    def __init__(self, body: dict):
        self.messages = [m for m in (body.get("messages") or []) if isinstance(m, dict)]
        self.tools = {}
        for tool in body.get("tools") or []:
            fn = tool.get("function") or {}
            if fn.get("name"):
                self.tools[fn["name"]] = fn.get("parameters") or {}
        system = "\n".join(text_of(m.get("content")) for m in self.messages if m.get("role") in ("system", "developer"))
        self.system = system
        self.blocks = memory_blocks(system)
        self.user, after = self._last_user()
        self.calls = {}  # tool_call_id -> name, for our calls since the user spoke
        self.results = []  # (name, content text) in order
        self.answered = False
        for m in after:
            self._note(m)
        self.last = self.messages[-1] if self.messages else {}

    def _last_user(self):
        for i in range(len(self.messages) - 1, -1, -1):
            m = self.messages[i]
            if m.get("role") == "user":
                text = user_text(m)
                if text is not None:
                    return text.strip(), self.messages[i + 1 :]
        return "", self.messages

    def _note(self, m: dict):
        if m.get("role") == "assistant":
            calls = m.get("tool_calls") or []
            for c in calls:
                name = (c.get("function") or {}).get("name", "")
                self.calls[c.get("id")] = name
                self.answered |= name == "send_message"
            self.answered |= not calls and bool(text_of(m.get("content")).strip())
        elif m.get("role") == "tool":
            name = m.get("name") or self.calls.get(m.get("tool_call_id"), "")
            self.results.append((name, text_of(m.get("content"))))

    @property
    def human_label(self) -> str:
        return next((label for label in ("human", "user") if label in self.blocks), "human")

    @property
    def human(self) -> str:
        return self.blocks.get(self.human_label, "")

    def human_facts(self) -> list[str]:
        return [line.strip() for line in self.human.splitlines() if line.strip()]

    def known_name(self) -> str | None:
        for line in self.human_facts():
            m = re.match(r"(?:first |full )?name\s*:\s*(.+)", line, re.IGNORECASE)
            if m:
                return m.group(1).strip()
        return None

    @property
    def heartbeat_agent(self) -> bool:
        return any("request_heartbeat" in (p.get("properties") or {}) for p in self.tools.values())
