"""What the scripted model says: a deterministic reading of an OpenAI chat request.

Pure functions, no I/O. `reply(body)` returns a plan
`{"content": str | None, "tool_calls": [{"id", "name", "arguments"}], "finish_reason": str}` that the server
(agents/scripted.py) sends back as a completion or an SSE stream. The rules, in order:

* no tools and a summarisation transcript → a short factual summary;
* the request answers an earlier tool call of ours → the final answer, built from the tool result;
* an automated heartbeat that names tools we still must call → call the first one offered;
* a fresh user message → an intent: "my name is X" / "I like Y" edit the human block with whichever memory
  tool is offered, "remember that …" → archival_memory_insert, "what do you remember about …" →
  archival_memory_search, "what did we talk about …" → conversation_search, otherwise a conversational reply
  quoting what core memory holds.

When `tool_choice` demands a tool, a reply is sent through `send_message` if offered, else the demanded tool is
called with arguments made from its schema. Heartbeat agents (tools decorated with `request_heartbeat`) get
`request_heartbeat=true` on intermediate calls and an inner monologue as content.
"""

import ast
import hashlib
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
_STOP = {
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


# ---- reading the request ---------------------------------------------------------------------------------------


def text_of(content) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return ""


def _json(text: str):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def user_text(message: dict) -> str | None:
    """The human's words in a user message, or None for automated ones (heartbeats, alerts, summaries, login)."""
    text = text_of(message.get("content"))
    if text.startswith(AUTOMATED_PREFIX) or text.startswith("<system-alert>"):
        return None
    data = _json(text) if text.lstrip().startswith("{") else None
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


# ---- intents ----------------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return text.strip().rstrip(".!?").strip()


def topic_words(text: str) -> str:
    words = [w for w in re.findall(r"[\w'-]+", text.lower()) if w not in _STOP]
    return " ".join(words)


def facts_in(text: str) -> list[str]:
    """Facts about the human stated in `text`, as lines for the human block."""
    facts = []
    for pattern, template in (
        (r"\bmy name is ([A-Za-z][\w'-]*(?: (?-i:[A-Z])[\w'-]*)?)", "Name: {}"),
        (r"\bcall me ([A-Za-z][\w'-]*)", "Name: {}"),
        (r"\bmy favou?rite ([\w ]+?) is ([^.,;!?]+)", "Favorite {}: {}"),
        (r"\bi (?:really |also )?(?:like|love|enjoy) ([^.,;!?]+)", "Likes {}"),
        (r"\bi live in ([^.,;!?]+)", "Lives in {}"),
        (r"\bi work (?:as|at) ([^.,;!?]+)", "Works as/at {}"),
    ):
        for m in re.finditer(pattern, text, re.IGNORECASE):
            facts.append(template.format(*(_clean(g) for g in m.groups())))
    return facts


def intent(text: str):
    """(kind, detail) for a user message."""
    low = text.lower()
    if m := re.search(r"\bwhat do you (?:remember|recall|know) about (.+)", low):
        about = _clean(m.group(1))
        return ("about_me", None) if about in ("me", "myself") else ("recall_archival", about)
    if m := re.search(r"\b(?:what did we (?:talk|speak|chat) about|did we (?:talk|speak|chat) about)(.*)", low):
        return "recall_conversation", topic_words(_clean(m.group(1)))
    if m := re.search(r"\bremember (?:that )?(.+)", text, re.IGNORECASE | re.DOTALL):
        return "remember", _clean(m.group(1))
    if facts := facts_in(text):
        return "facts", facts
    return "chat", None


# ---- answers ----------------------------------------------------------------------------------------------------


def conversational(conv: Conversation) -> str:
    text, name, facts = conv.user, conv.known_name(), conv.human_facts()
    low = text.lower()
    if re.match(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b", low):
        return f"Hello, {name}! How can I help you today?" if name else "Hello! How can I help you today?"
    if re.search(r"what(?:'s| is) my name|who am i|do you know my name", low):
        return f"Your name is {name}." if name else "I don't know your name yet. Tell me and I will remember it."
    if re.search(r"what do you (?:know|remember) about me", low):
        return _facts_sentence(facts) or "I don't know anything about you yet."
    reply = f'You said: "{_clip(text, 200)}".' if text else "I'm here."
    if known := _facts_sentence(facts):
        reply += " " + known
    return reply


def _facts_sentence(facts: list[str]) -> str:
    return f"Here is what I know about you: {'; '.join(facts)}." if facts else ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_outcome(content: str):
    """(ok, message) from a tool message: packaged JSON `{"status", "message"}` or raw text."""
    data = _json(content)
    if isinstance(data, dict) and "status" in data:
        return str(data["status"]).lower() not in ("failed", "error"), data.get("message")
    return not content.lower().startswith("error"), content


def _items(message) -> list:
    """Result rows from a search tool's message (JSON, a Python repr, or a wrapper object)."""
    data = message
    if isinstance(message, str):
        data = _json(message)
        if data is None:
            try:
                data = ast.literal_eval(message)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return []
    if isinstance(data, dict):
        data = data.get("results", [])
    return data if isinstance(data, list) else []


def _row_text(row) -> str:
    text = row.get("content") if isinstance(row, dict) else row
    if isinstance(text, (dict, list)):
        text = json.dumps(text)
    return _clip(str(text), 200) if text else ""


def _contents(rows: list, limit: int = 3) -> list[str]:
    return [t for t in map(_row_text, rows[:limit]) if t]


def answer_from_result(conv: Conversation, name: str, content: str) -> str:
    ok, message = tool_outcome(content)
    if not ok:
        return f"I couldn't do that: {_clip(str(message), 300)}"
    kind, detail = intent(conv.user)
    if name in MEMORY_EDIT_TOOLS:
        facts = detail if kind == "facts" else [detail] if kind == "remember" else []
        who = next((f[6:] for f in facts if f.startswith("Name: ")), None)
        saved = f": {'; '.join(facts)}" if facts else ""
        return f"Got it{', ' + who if who else ''}! I've saved that to my memory{saved}."
    if name == "archival_memory_insert":
        return f"Okay, I'll remember that {detail}." if kind == "remember" else "Okay, I've stored that."
    if name == "archival_memory_search":
        found = _contents(_items(message))
        topic = detail or "that"
        return (
            f"Here's what I remember about {topic}: {'; '.join(found)}."
            if found
            else (f"I don't have any memories about {topic}.")
        )
    if name == "conversation_search":
        found = [
            f'{"you" if isinstance(row, dict) and row.get("role") == "user" else "I"} said "{text}"'
            for row in _items(message)[:3]
            if (text := _row_text(row))
        ]
        return (
            f"Here's what we talked about: {'; '.join(found)}."
            if found
            else (f"I couldn't find anything we talked about{' regarding ' + detail if detail else ''}.")
        )
    return f"The {name} tool returned: {_clip(str(message), 300)}"


def summarize(conv: Conversation) -> str:
    """A short deterministic summary of a `<start_transcript>` request."""
    transcript = "\n".join(text_of(m.get("content")) for m in conv.messages if m.get("role") == "user")
    lines = re.findall(r"^\[(user|assistant)\] (.+)$", transcript, re.MULTILINE)
    said = [_clip(t, 120) for role, t in lines if role == "user" and not t.startswith("{")]
    replies = [_clip(t, 120) for role, t in lines if role == "assistant" and t.strip()]
    parts = ["Summary of the earlier conversation."]
    if said:
        parts.append("The user said: " + "; ".join(said[-8:]) + ".")
    if replies:
        parts.append("I replied: " + "; ".join(replies[-4:]) + ".")
    hints = sorted({w for t in said for w in topic_words(t).split() if len(w) > 3})[:12]
    if hints:
        parts.append("Lookup hints: " + ", ".join(hints) + ".")
    return " ".join(parts)


# ---- planning tool calls ----------------------------------------------------------------------------------------


def memory_edit(conv: Conversation, facts: list[str]):
    """(tool, args) writing `facts` into the human block with the best memory tool offered, or None."""
    label, value, new = conv.human_label, conv.human, "\n".join(facts)
    old_name = next((f for f in conv.human_facts() if re.match(r"(first |full )?name\s*:", f, re.I)), None)
    renaming = old_name and any(f.startswith("Name: ") for f in facts) and value.count(old_name) == 1
    rest = "\n".join(f for f in facts if not f.startswith("Name: "))
    named = next(f for f in facts if f.startswith("Name: ")) if renaming else ""
    replacement = named + ("\n" + rest if rest else "")
    tools = conv.tools
    if renaming and "memory_replace" in tools:
        return "memory_replace", {"label": label, "old_string": old_name, "new_string": replacement}
    if renaming and "core_memory_replace" in tools:
        return "core_memory_replace", {"label": label, "old_content": old_name, "new_content": replacement}
    if "memory_insert" in tools:
        return "memory_insert", {"label": label, "new_string": new, "insert_line": -1}
    if "core_memory_append" in tools:
        return "core_memory_append", {"label": label, "content": new}
    if "memory" in tools:
        return "memory", {"command": "insert", "path": f"/memories/{label}", "insert_text": new, "insert_line": -1}
    last = value.splitlines()[-1] if value else ""
    if "memory_replace" in tools and last and value.count(last) == 1:
        return "memory_replace", {"label": label, "old_string": last, "new_string": last + "\n" + new}
    if "memory_rethink" in tools:
        return "memory_rethink", {"label": label, "new_memory": (value + "\n" + new).strip()}
    return None


def plan_for_user(conv: Conversation):
    """("call", tool, args, thought) or ("say", text)."""
    kind, detail = intent(conv.user)
    tools = conv.tools
    if kind == "recall_archival" and "archival_memory_search" in tools:
        return "call", "archival_memory_search", {"query": detail}, f"Searching archival memory for {detail}."
    if kind == "recall_conversation" and "conversation_search" in tools:
        args = {"query": detail} if detail else {}
        return "call", "conversation_search", args, "Searching our past conversation."
    if kind == "remember" and "archival_memory_insert" in tools:
        return "call", "archival_memory_insert", {"content": detail}, "Storing this in archival memory."
    facts = detail if kind == "facts" else None
    if kind == "remember":  # no archival tool offered: keep it in core memory instead
        facts = facts_in(detail) or [detail]
    if facts and (edit := memory_edit(conv, facts)):
        return "call", edit[0], edit[1], "The user told me something about themselves; saving it to core memory."
    return "say", conversational(conv)


def demanded_tool(conv: Conversation) -> str | None:
    """A tool an automated message says we still must call (tool rules), if offered."""
    text = " ".join(text_of(m.get("content")) for m in conv.messages[-2:] if m.get("role") in ("user", "tool"))
    m = re.search(r"must call (.+?) at least once|these tools: \[(.+?)\]|valid tools include: \[(.+?)\]", text)
    if not m:
        return None
    names = re.findall(r"[\w-]+", next(g for g in m.groups() if g))
    return next((n for n in names if n in conv.tools), None)


def default_args(conv: Conversation, name: str, text: str) -> dict:
    """Arguments for `name` made from its schema: required fields get values drawn from the conversation
    (`text` is what we would reply)."""
    schema = conv.tools.get(name) or {}
    props = schema.get("properties") or {}
    args = {}
    for key in schema.get("required") or []:
        spec = props.get(key) or {}
        kind = spec.get("type")
        if "enum" in spec:
            args[key] = spec["enum"][0]
        elif key == "label":
            args[key] = conv.human_label
        elif kind == "integer" or kind == "number":
            args[key] = spec.get("default", 1)
        elif kind == "boolean":
            args[key] = bool(spec.get("default", False))
        elif kind == "array":
            args[key] = []
        elif kind == "object":
            args[key] = {}
        else:  # a message is what we would say; anything else (query, content, …) comes from the user
            args[key] = (text if key == "message" else conv.user) or text or "ok"
    return args


def fit_args(conv: Conversation, name: str, args: dict, thought: str, *, final: bool) -> dict:
    """Keep only parameters the schema declares; add heartbeat and inner-thought fields when it asks for them."""
    props = (conv.tools.get(name) or {}).get("properties")
    fitted = {k: v for k, v in args.items() if props is None or k in props}
    props = props or {}
    if "thinking" in props:
        fitted = {"thinking": thought, **fitted}
    if "request_heartbeat" in props:
        fitted["request_heartbeat"] = not final
    return fitted


def call_id(conv: Conversation, name: str, index: int = 0) -> str:
    seed = f"{len(conv.messages)}|{conv.user}|{name}|{index}|{len(conv.results)}"
    return "call_" + hashlib.blake2b(seed.encode(), digest_size=10).hexdigest()


def reply(body: dict) -> dict:
    """The deterministic answer to one chat-completions request."""
    conv = Conversation(body)
    choice = body.get("tool_choice")
    if choice == "none":
        conv.tools = {}
    kind = choice.get("type") if isinstance(choice, dict) else choice
    forced = (choice.get("function") or {}).get("name") or choice.get("name") if isinstance(choice, dict) else None
    must_call = bool(conv.tools) and (forced is not None or kind in ("required", "any"))
    if not conv.tools and "<start_transcript>" in "".join(text_of(m.get("content")) for m in conv.messages):
        return _say(summarize(conv))
    plan = _plan(conv)
    if plan[0] == "call" and (forced is None or forced == plan[1]):
        _, name, args, thought = plan
        return _call(conv, name, fit_args(conv, name, args, thought, final=False), thought)
    text = plan[1] if plan[0] == "say" else conversational(conv)
    if forced and forced != "send_message":
        return _call(conv, forced, fit_args(conv, forced, default_args(conv, forced, text), text, final=False), "")
    if "send_message" in conv.tools and (must_call or conv.heartbeat_agent):
        args = fit_args(conv, "send_message", {"message": text}, "Replying to the user.", final=True)
        return _call(conv, "send_message", args, "Replying to the user." if conv.heartbeat_agent else "")
    if must_call:
        name = next(iter(conv.tools))
        return _call(conv, name, fit_args(conv, name, default_args(conv, name, text), text, final=False), "")
    return _say(text)


def _plan(conv: Conversation):
    if name := demanded_tool(conv):
        return "call", name, default_args(conv, name, conv.user), f"A tool rule asks me to call {name}."
    if conv.results and not conv.answered:
        name, content = conv.results[-1]
        return "say", answer_from_result(conv, name, content)
    if conv.answered:
        return "say", "Is there anything else I can help you with?"
    return plan_for_user(conv)


def _say(text: str) -> dict:
    return {"content": text, "tool_calls": [], "finish_reason": "stop"}


def _call(conv: Conversation, name: str, args: dict, thought: str) -> dict:
    call = {"id": call_id(conv, name), "name": name, "arguments": json.dumps(args)}
    content = thought if conv.heartbeat_agent and thought else None
    return {"content": content, "tool_calls": [call], "finish_reason": "tool_calls"}


# ---- embeddings -------------------------------------------------------------------------------------------------

_EMBED_STOP = {
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "at",
    "is",
    "are",
    "was",
    "were",
    "be",
    "it",
    "that",
    "this",
    "for",
    "with",
    "as",
    "by",
    "my",
    "your",
    "i",
    "you",
    "we",
    "me",
    "do",
    "did",
}


def _features(text: str):
    """Hashed features: content words (weight 1) and their character trigrams (weight 0.5)."""
    for word in re.findall(r"\w+", text.lower()):
        if word in _EMBED_STOP:
            continue
        stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
        yield "w:" + stem, 1.0
        padded = f"#{stem}#"
        for i in range(len(padded) - 2):
            yield "t:" + padded[i : i + 3], 0.5


def embed_text(text: str, dimensions: int = 384) -> list[float]:
    """A deterministic, L2-normalised bag-of-words vector: texts sharing words are close in cosine distance."""
    vec = [0.0] * dimensions
    for feature, weight in _features(text):
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vec[index] += weight if digest[4] & 1 else -weight
    norm = sum(v * v for v in vec) ** 0.5
    if norm == 0:  # no features (empty text): a fixed unit vector, still valid for cosine search
        vec[0], norm = 1.0, 1.0
    return [v / norm for v in vec]
