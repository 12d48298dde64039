"""What the scripted model says: a deterministic reading of an OpenAI chat request.

Pure functions, no I/O. `reply(body)` returns a plan
`{"content": str | None, "tool_calls": [{"id", "name", "arguments"}], "finish_reason": str}` that the server
(agents/scripted/server.py) sends back as a completion or an SSE stream. The rules, in order:

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

from agents.scripted.reading import MEMORY_EDIT_TOOLS, STOP_WORDS, Conversation, parse_json, text_of

# What a person can type to steer the simulator (shown in the ADE's help): phrase, what the agent does.
PHRASES = [
    ("my name is Ada", "writes the name into the human block with a memory tool"),
    ("I like green tea", "adds the preference to the human block"),
    ("remember that the launch is on 3 March", "stores a passage with archival_memory_insert"),
    ("what do you remember about the launch?", "searches passages with archival_memory_search"),
    ("what did we talk about yesterday?", "searches the conversation with conversation_search"),
    ("anything else", "a short reply quoting what core memory holds"),
]

# ---- intents ----------------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return text.strip().rstrip(".!?").strip()


def topic_words(text: str) -> str:
    words = [w for w in re.findall(r"[\w'-]+", text.lower()) if w not in STOP_WORDS]
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
        return (
            _sentence(f"Your name is {name}") if name else "I don't know your name yet. Tell me and I will remember it."
        )
    if re.search(r"what do you (?:know|remember) about me", low):
        return _facts_sentence(facts) or "I don't know anything about you yet."
    reply = f'You said: "{_clip(text, 200)}".' if text else "I'm here."
    if known := _facts_sentence(facts):
        reply += " " + known
    return reply


def _facts_sentence(facts: list[str]) -> str:
    return _sentence(f"Here is what I know about you: {'; '.join(facts)}") if facts else ""


def _sentence(text: str) -> str:
    """`text` ended with a full stop, unless it ends with one already ("Ada L." is not followed by another)."""
    return text if text.endswith((".", "!", "?")) else text + "."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_outcome(content: str):
    """(ok, message) from a tool message: packaged JSON `{"status", "message"}` or raw text."""
    data = parse_json(content)
    if isinstance(data, dict) and "status" in data:
        return str(data["status"]).lower() not in ("failed", "error"), data.get("message")
    return not content.lower().startswith("error"), content


def _items(message) -> list:
    """Result rows from a search tool's message (JSON, a Python repr, or a wrapper object)."""
    data = message
    if isinstance(message, str):
        data = parse_json(message)
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
    if must_call:  # nothing left to do but a call is required: end the turn if a tool can (a sleep-time agent's)
        name = "memory_finish_edits" if "memory_finish_edits" in conv.tools else next(iter(conv.tools))
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
