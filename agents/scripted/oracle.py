"""`engram/oracle`: the scripted server playing a perfect memory agent, for evals (evals/).

It works only from the request it is sent, like a real model, so a miss means Engram's machinery lost something
(prompt compile, tools, limits, reset, search). Pure functions, no I/O. The rules, for a fresh user message:

* new information ("… new information …", "update …", "… replaces …") → `memory_replace` of the memory line it
  overlaps most (the block's own numbering kept), or `memory_insert` when no line is about it;
* a question → the memory lines about the people it names (best first), else in-context sentences that cover its
  words; when neither has the answer, `conversation_search` with its key words, then `archival_memory_search`
  when the first found nothing (each when offered), then the answer from the results;
* anything else → a short acknowledgement.
Summaries, tool rules and forced tool choices are left to the plain scripted brain (agents/scripted/brain.py).
"""

import math
import re

from agents.scripted import brain
from agents.scripted.reading import Conversation, user_text

STOP = set(
    "a an the of to in on at and or with who whom whose which what when where why how is was were are am be been "
    "did does do has have had by for from that this these those their his her its as it i me my mine you your we "
    "our us they them one both same any all about there here please tell know new information update replaces "
    "replace knew before than then so".split()
)
QUESTION_WORDS = {"Who", "What", "Which", "When", "Where", "Why", "How", "In", "At", "For", "During", "With", "Whom"}
QUESTION_WORDS |= {"Whose", "Did", "Does", "Is", "Are", "Was", "Were", "According", "The", "A", "An", "On", "Do"}
UPDATE = re.compile(r"\bnew information\b|\bupdate (?:your|my)\b|\breplaces?\b|\bno longer\b|\bcorrection\b", re.I)
ASKING = re.compile(r"\s*(name|list|tell me|describe|identify|state|give|who|what|which|when|where|how|why)\b", re.I)
SEARCH_TOOLS = ("conversation_search", "archival_memory_search")


def stem(word: str) -> str:
    """A crude stem, the same for "leave", "leaves" and "leaving"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def words(text: str) -> set[str]:
    return {stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP}


def names(text: str) -> list[str]:
    """Capitalised word runs that are not question words: the people (and places) a question is about."""
    found = []
    for m in re.finditer(r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*", text):
        parts = [re.sub(r"'s$", "", p) for p in m.group(0).split() if p not in QUESTION_WORDS]
        if parts:
            found.append(" ".join(parts))
    return found


def ranked(query: str, lines: list[str]) -> list[tuple[float, int]]:
    """(score, index) best first: the query's words each line shares, rarer words (across `lines`) weigh more."""
    sets = [words(line) for line in lines]
    wanted = words(query)
    total = len(lines)
    scores = []
    for i, have in enumerate(sets):
        score = sum(math.log((total + 1) / (0.5 + sum(1 for s in sets if w in s))) for w in wanted & have)
        scores.append((score, i))
    return sorted(scores, key=lambda pair: (-pair[0], -pair[1]))  # ties: the later (newer) line


def memory_lines(conv: Conversation) -> list[tuple[str, str]]:
    """(label, line) of every non-empty line of the memory blocks in the prompt (persona left out)."""
    return [
        (label, line.strip())
        for label, value in conv.blocks.items()
        if label != "persona"
        for line in value.splitlines()
        if line.strip()
    ]


def about(question: str, lines: list[str]) -> list[str]:
    """The lines about the people the question names, best first; without names, lines with all of its words."""
    who = [n.lower() for n in names(question)]
    order = ranked(question, lines)
    if who:
        return [lines[i] for _, i in order if any(n in lines[i].lower() for n in who)]
    need = words(question)
    return [lines[i] for _, i in order if need and need <= words(lines[i])]


def context_sentences(conv: Conversation) -> list[str]:
    """Sentences of the earlier user messages still in context (not the question itself)."""
    texts = [
        t for t in (user_text(m) for m in conv.messages if m.get("role") == "user") if t and t.strip() != conv.user
    ]
    sentences = [s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]
    return [s for s in sentences if not s.endswith("?")]


def payload(text: str) -> str:
    """The new fact of an update message: after its colon when it has one, quotes removed."""
    head, sep, tail = text.partition(":")
    return (tail if sep and UPDATE.search(head) else text).strip().strip('"').strip()


def plan_update(conv: Conversation, fact: str):
    lines = memory_lines(conv)
    best = ranked(fact, [line for _, line in lines])
    replace = next((t for t in ("memory_replace", "core_memory_replace") if t in conv.tools), None)
    if best and best[0][0] > 0 and replace:
        label, line = lines[best[0][1]]
        number = re.match(r"^\d+\.\s+", line)
        new = (number.group(0) if number else "") + fact
        keys = ("old_string", "new_string") if replace == "memory_replace" else ("old_content", "new_content")
        return "call", replace, {"label": label, keys[0]: line, keys[1]: new}
    label = next((label for label, _ in lines), None) or conv.human_label
    if "memory_insert" in conv.tools:
        return "call", "memory_insert", {"label": label, "new_string": fact, "insert_line": -1}
    if "core_memory_append" in conv.tools:
        return "call", "core_memory_append", {"label": label, "content": fact}
    return "say", f"Noted, but I have no tool to change my memory: {fact}"


def plan_question(conv: Conversation, question: str):
    found = about(question, [line for _, line in memory_lines(conv)])
    if found:
        return "say", "From my memory: " + " ".join(_sentence(line) for line in found)
    heard = about(question, context_sentences(conv))
    if heard:
        return "say", "You told me: " + " ".join(heard[: 3 if names(question) else 1])
    tool = next((t for t in SEARCH_TOOLS if t in conv.tools), None)
    if tool:
        return "call", tool, {"query": _query(question)}
    return "say", "I don't have that in my memory."


def _sentence(line: str) -> str:
    line = re.sub(r"^\d+\.\s+", "", line)
    return line if line.endswith((".", "!", "?")) else line + "."


def search_hits(conv: Conversation, content: str) -> list[str]:
    """Sentences of a search tool's results that answer the question (questions themselves left out)."""
    _ok, message = brain.tool_outcome(content)
    rows = [str(r.get("content") if isinstance(r, dict) else r) for r in brain._items(message)]
    sentences = [s.strip() for r in rows for s in re.split(r"(?<=[.!?])\s+", r) if s.strip()]
    return about(conv.user, [s for s in sentences if not s.endswith("?")])


def answer_from_result(conv: Conversation, name: str, content: str) -> str:
    ok, message = brain.tool_outcome(content)
    if not ok:
        return f"That did not work: {str(message)[:300]}"
    if name in SEARCH_TOOLS:
        found = search_hits(conv, content)
        return (
            "I found it: " + " ".join(found[: 3 if names(conv.user) else 1])
            if found
            else "I searched but found nothing about that."
        )
    return "Done: I've updated my memory."


def next_search(conv: Conversation, name: str, content: str):
    """The other search tool, when this one found nothing and the other is offered and not tried yet."""
    if name not in SEARCH_TOOLS or search_hits(conv, content):
        return None
    tried = set(conv.calls.values())
    return next((t for t in SEARCH_TOOLS if t in conv.tools and t not in tried), None)


def reply(body: dict) -> dict:
    """The oracle's answer to one chat-completions request (the plan shape of `brain.reply`)."""
    conv = Conversation(body)
    choice = body.get("tool_choice")
    must_call = choice in ("required", "any") and "send_message" not in conv.tools
    if not conv.tools or isinstance(choice, dict) or must_call or brain.demanded_tool(conv):
        return brain.reply(body)  # summaries, tool rules, forced tools: the plain scripted rules
    if conv.results and not conv.answered:
        name, content = conv.results[-1]
        if tool := next_search(conv, name, content):
            return _tool(conv, tool, {"query": _query(conv.user)})
        return _final(conv, answer_from_result(conv, name, content))
    if conv.answered:
        return _final(conv, "Is there anything else?")
    text = conv.user
    if UPDATE.search(text):
        plan = plan_update(conv, payload(text))
    elif "?" in text or ASKING.match(text):
        plan = plan_question(conv, text)
    else:
        plan = ("say", "Thanks, noted.")
    return _tool(conv, plan[1], plan[2]) if plan[0] == "call" else _final(conv, plan[1])


def _query(question: str) -> str:
    return " ".join(names(question)) or " ".join(sorted(words(question)))


def _tool(conv: Conversation, tool: str, args: dict) -> dict:
    return brain._call(conv, tool, brain.fit_args(conv, tool, args, "", final=False), "")


def _final(conv: Conversation, text: str) -> dict:
    if "send_message" in conv.tools:
        return brain._call(
            conv, "send_message", brain.fit_args(conv, "send_message", {"message": text}, "", final=True), ""
        )
    return brain._say(text)
