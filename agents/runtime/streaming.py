"""Token streaming: turn the model's stream deltas into partial LettaMessage events (letta-api §2.6).

Each delta event carries the id (and otid) of the message the step persists afterwards, and only the new piece:
`reasoning`, `content`, or a `tool_call` delta with partial `arguments` (name and id on the first piece).
A heartbeat agent's send_message is streamed as assistant_message text, read out of the partial JSON arguments.
"""

import re

from django.utils import timezone

from agents.runtime.letta_messages import part_otid

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "r": "\r"}


_PLAIN = re.compile(r'[^"\\]+')


def partial_string_value(buffer: str, key: str) -> str | None:
    """The (possibly unfinished) string value of `key` in partial JSON text; None until the value starts."""
    return PartialString(key).read(buffer)


class PartialString:
    """The string value of `key` in JSON text that grows at its end (a streamed tool call's arguments), decoded
    incrementally: each `read` decodes only what arrived since the last one. Decoding the whole buffer again for
    every piece took seconds of CPU for a long streamed message."""

    def __init__(self, key: str):
        self.start = re.compile(r'"' + re.escape(key) + r'"\s*:\s*"')
        self.i: int | None = None  # where decoding resumes; None until the value starts
        self.text = ""
        self.closed = False

    def read(self, buffer: str) -> str | None:
        if self.i is None:
            match = self.start.search(buffer)
            if not match:
                return None
            self.i = match.end()
        i, new = self.i, []
        while not self.closed and i < len(buffer):
            plain = _PLAIN.match(buffer, i)
            if plain:
                new.append(plain.group())
                i = plain.end()
                continue
            if buffer[i] == '"':
                self.closed = True
                break
            decoded, width = _escape(buffer, i)
            if width == 0:
                break  # an escape cut in half: wait for the next piece
            new.append(decoded)
            i += width
        self.i = i
        if new:
            self.text += "".join(new)
        return self.text


def _escape(buffer: str, i: int) -> tuple[str, int]:
    """The escape sequence at buffer[i] (a backslash): its text and width, or ("", 0) while it is incomplete. A
    surrogate pair (\\ud83d\\ude00) is one character: a half of it alone could not be encoded as UTF-8."""
    if i + 1 >= len(buffer):
        return "", 0
    esc = buffer[i + 1]
    if esc != "u":
        return _ESCAPES.get(esc, esc), 2
    code = _hex4(buffer, i + 2)
    if code is None:
        return "", 0
    if 0xD800 <= code < 0xDC00:  # a high surrogate: its low half should follow as \\uXXXX
        follows = buffer[i + 6 : i + 8]
        if follows in ("", "\\") or (follows == "\\u" and len(buffer) < i + 12):
            return "", 0
        low = _hex4(buffer, i + 8) if follows == "\\u" else None
        if low is not None and 0xDC00 <= low < 0xE000:
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
        return "\ufffd", 6
    return ("\ufffd" if 0xDC00 <= code < 0xE000 else chr(code)), 6


def _hex4(buffer: str, i: int) -> int | None:
    """The four hex digits at buffer[i] (U+FFFD's code if they are not hex), or None while they are incomplete."""
    if i + 4 > len(buffer):
        return None
    try:
        return int(buffer[i : i + 4], 16)
    except ValueError:
        return 0xFFFD


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
        call = self.calls.setdefault(
            piece["index"], {"name": "", "id": "", "args": "", "said": "", "first": True, "message": None}
        )
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
            call["message"] = call["message"] or PartialString("message")
            said = call["message"].read(call["args"]) or ""
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
