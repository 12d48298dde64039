"""Token streaming: turn the model's stream deltas into partial LettaMessage events (letta-api §2.6).

Each delta event carries the id (and otid) of the message the step persists afterwards, and only the new piece:
`reasoning`, `content`, or a `tool_call` delta with partial `arguments` (name and id on the first piece).
A heartbeat agent's send_message is streamed as assistant_message text, read out of the partial JSON arguments.
"""

import re

from django.utils import timezone

from agents.runtime.letta_messages import part_otid

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "r": "\r"}


def partial_string_value(buffer: str, key: str) -> str | None:
    """The (possibly unfinished) string value of `key` in partial JSON text; None until the value starts."""
    match = re.search(r'"' + re.escape(key) + r'"\s*:\s*"', buffer)
    if not match:
        return None
    out, i = [], match.end()
    while i < len(buffer):
        ch = buffer[i]
        if ch == '"':
            break
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(buffer):
            break  # an escape cut in half: wait for the next piece
        esc = buffer[i + 1]
        if esc == "u":
            if i + 6 > len(buffer):
                break
            out.append(chr(int(buffer[i + 2 : i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(esc, esc))
            i += 2
    return "".join(out)


class DeltaStreamer:
    """Receives `llm.complete` deltas for one step and emits partial events through the turn."""

    def __init__(self, turn, step_id: str, ids: dict):
        self.turn, self.step_id, self.ids = turn, step_id, ids
        self.calls: dict[int, dict] = {}
        self.parts: list[str] = []  # kinds seen so far, in order: a part's index is its otid suffix
        self.date = timezone.now().isoformat(timespec="seconds")
        if not hasattr(turn, "streamed_ids"):
            turn.streamed_ids = set()

    def on_delta(self, kind: str, data) -> None:
        heartbeats = self.turn.style.heartbeats
        if kind == "reasoning" or (kind == "content" and heartbeats):
            source = "reasoner_model" if kind == "reasoning" else "non_reasoner_model"
            self.send("reasoning", "reasoning_message", {"reasoning": data, "source": source, "signature": None})
        elif kind == "content":
            self.send("content", "assistant_message", {"content": data})
        elif kind == "tool_call":
            self.tool_call(data)

    def tool_call(self, piece: dict) -> None:
        call = self.calls.setdefault(piece["index"], {"name": "", "id": "", "args": "", "said": "", "first": True})
        call["name"] = call["name"] or piece.get("name") or ""
        call["id"] = call["id"] or piece.get("id") or ""
        call["args"] += piece.get("arguments") or ""
        if not call["name"]:
            return
        approval = self.turn.needs_approval(call["name"])
        as_text = (
            self.turn.style.heartbeats
            and call["name"] == "send_message"
            and not approval
            and self.turn.options.get("use_assistant_message", True)
        )
        if as_text:
            said = partial_string_value(call["args"], "message") or ""
            if len(said) > len(call["said"]):
                self.send(f"call{piece['index']}", "assistant_message", {"content": said[len(call["said"]) :]})
                call["said"] = said
            return
        delta = {"arguments": piece.get("arguments") or ""}
        if call["first"]:
            delta.update(name=call["name"], tool_call_id=call["id"] or None)
            call["first"] = False
        kind = "approval_request_message" if approval else "tool_call_message"
        self.send(f"call{piece['index']}", kind, {"tool_call": delta}, approval=approval)

    def send(self, part: str, message_type: str, fields: dict, approval: bool = False) -> None:
        message_id = self.ids["approval" if approval else "assistant"]
        if part not in self.parts:
            self.parts.append(part)
        self.turn.streamed_ids.add(message_id)
        self.turn.emit(
            {
                "id": message_id,
                "date": self.date,
                "message_type": message_type,
                "otid": part_otid(message_id, self.parts.index(part)),
                "name": None,
                "sender_id": None,
                "step_id": self.step_id,
                "run_id": self.turn.run.id,
                "is_err": None,
                **fields,
            }
        )
