"""Reading a turn's input (behaviour spec §2.1, §2.11): user/system messages, or a human's approval decisions.

`read_turn_input` is called by the loop at the start of a turn; `check_turn_input` lets an entry point refuse bad
input (400/409) before it records a Run.
"""

from dataclasses import dataclass, field

from ade.errors import Conflict, Invalid
from agents.models import Message
from agents.queries import message_row
from agents.runtime.packaging import KEEP_ALIVE, text_parts

PENDING_APPROVAL_ERROR = (
    "Cannot send a new message: The agent is waiting for approval on a tool call. Please "
    "approve or deny the pending request before continuing."
)
NO_PENDING_ERROR = (
    "Cannot process approval response: No tool call is currently awaiting approval. Please send a "
    "regular message to interact with the agent."
)
INPUT_ROLES = ("user", "system", "assistant")


@dataclass
class TurnInput:
    messages: list[Message] = field(default_factory=list)  # new inputs for the first model step
    approval: Message | None = None  # the approval response to persist (role approval)
    approval_request: Message | None = None  # the pending request it answers
    decisions: dict = field(default_factory=dict)  # tool_call_id -> {"type": "approval"|"tool", ...}
    follow_ups: list[Message] = field(default_factory=list)  # inputs sent after the approval


def check_turn_input(agent, items) -> None:
    """Refuse malformed input or a message while an approval is pending, without running anything."""
    last_id = (agent.message_ids or [None])[-1]
    last = message_row(last_id) if last_id else None
    read_turn_input(agent, [last] if last else [], items)


def read_turn_input(agent, context: list[Message], items, run_id: str | None = None) -> TurnInput:
    """Parse `items` (Letta MessageCreate / ApprovalCreate / ToolReturnCreate dicts) against the context tail."""
    if not isinstance(items, list) or not items:
        raise Invalid("messages must be a non-empty list", field="messages")
    kinds = [_kind(item, i) for i, item in enumerate(items)]
    if any(k in ("approval", "tool_return") for k in kinds[1:]):
        raise Invalid("an approval must be the first item of messages", field="messages")
    pending = context[-1] if context and context[-1].role == "approval" and context[-1].tool_calls else None
    if kinds[0] not in ("approval", "tool_return"):
        if pending is not None:
            raise Conflict(PENDING_APPROVAL_ERROR, code="PENDING_APPROVAL")
        return TurnInput(messages=[_message(agent, item, i, run_id) for i, item in enumerate(items)])
    decisions, legacy = _decisions(items[0], kinds[0])
    follow_ups = [_message(agent, item, i, run_id) for i, item in enumerate(items[1:], 1)]
    if pending is None:
        if _already_answered(context, decisions):  # a retried approval: carry on with what came after it
            return TurnInput(messages=follow_ups or [_user(agent, KEEP_ALIVE, run_id)])
        raise Invalid(NO_PENDING_ERROR, field="messages")
    expected = [c["id"] for c in pending.tool_calls]
    if legacy is not None:
        asked = items[0].get("approval_request_id")
        if asked and asked != pending.id and asked not in expected:
            raise Invalid(
                f"approval_request_id {asked!r} is not the pending request ({pending.id})",
                field="messages[0].approval_request_id",
            )
        decisions = {cid: {**legacy, "tool_call_id": cid} for cid in expected}
    elif set(decisions) != set(expected):
        raise Invalid(
            f"Invalid tool call IDs. Expected '{expected}', but received '{list(decisions)}'.",
            field="messages[0].approvals",
        )
    ordered = [decisions[cid] for cid in expected]
    first = ordered[0]
    approval = Message(
        organization_id=agent.organization_id,
        agent_id=agent.id,
        role="approval",
        content=[],
        approvals=ordered,
        approve=first.get("approve") if first.get("type") == "approval" else True,
        approval_request_id=pending.id,
        denial_reason=first.get("reason") or "",
        run_id=run_id,
        otid=str(items[0].get("otid") or ""),
    )
    return TurnInput(approval=approval, approval_request=pending, decisions=decisions, follow_ups=follow_ups)


def _kind(item, i: int) -> str:
    if not isinstance(item, dict):
        raise Invalid(f"messages[{i}] must be an object", field=f"messages[{i}]")
    kind = item.get("type")
    if kind is None:
        kind = "approval" if any(k in item for k in ("approve", "approval_request_id", "approvals")) else "message"
    if kind not in ("message", "approval", "tool_return"):
        raise Invalid(
            f"messages[{i}].type must be message, approval or tool_return (got {kind!r})", field=f"messages[{i}].type"
        )
    return kind


def _decisions(item: dict, kind: str) -> tuple[dict, dict | None]:
    """{tool_call_id: decision} and, for the legacy flat form, the one decision that applies to every call."""
    if kind == "tool_return":
        entries = item.get("tool_returns")
        entries = [{**e, "type": "tool"} for e in entries] if isinstance(entries, list) else entries
    elif item.get("approvals") is not None:
        entries = item["approvals"]
    else:
        if not isinstance(item.get("approve"), bool):
            raise Invalid("messages[0].approve must be true or false", field="messages[0].approve")
        return {}, {"type": "approval", "approve": item["approve"], "reason": item.get("reason")}
    if not isinstance(entries, list) or not entries:
        raise Invalid("messages[0].approvals must be a non-empty list", field="messages[0].approvals")
    out = {}
    for j, entry in enumerate(entries):
        where = f"messages[0].approvals[{j}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("tool_call_id"), str):
            raise Invalid(f"{where}.tool_call_id is required", field=f"{where}.tool_call_id")
        if entry.get("type", "approval") == "tool":
            if entry.get("status", "success") not in ("success", "error"):
                raise Invalid(f"{where}.status must be success or error", field=f"{where}.status")
            ret = entry.get("tool_return")
            ret = ret if isinstance(ret, str) else "".join(p.get("text", "") for p in ret or [] if isinstance(p, dict))
            out[entry["tool_call_id"]] = {
                "type": "tool",
                "tool_call_id": entry["tool_call_id"],
                "status": entry.get("status", "success"),
                "tool_return": ret,
                "stdout": entry.get("stdout"),
                "stderr": entry.get("stderr"),
            }
        else:
            if not isinstance(entry.get("approve"), bool):
                raise Invalid(f"{where}.approve must be true or false", field=f"{where}.approve")
            out[entry["tool_call_id"]] = {
                "type": "approval",
                "tool_call_id": entry["tool_call_id"],
                "approve": entry["approve"],
                "reason": entry.get("reason"),
            }
    return out, None


def _already_answered(context: list[Message], decisions: dict) -> bool:
    if not decisions:
        return False
    for m in context[-10:]:
        answered = {r.get("tool_call_id") for r in (m.tool_returns or [])} if m.role == "tool" else set()
        if answered and set(decisions) <= answered:
            return True
    return False


def _parts(content, where: str) -> list[dict]:
    if isinstance(content, str):
        return text_parts(content)
    if not isinstance(content, list) or not content:
        raise Invalid(f"{where} must be a string or a non-empty list of content parts", field=where)
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image" and isinstance(part.get("source"), dict):
            parts.append({"type": "image", "source": part["source"]})
        else:
            raise Invalid(
                f"{where}[{j}] must be a text part {{type: text, text}} or an image part", field=f"{where}[{j}]"
            )
    return parts


def _message(agent, item: dict, i: int, run_id: str | None) -> Message:
    role = item.get("role", "user")
    if role not in INPUT_ROLES:
        raise Invalid(
            f"messages[{i}].role must be one of {', '.join(INPUT_ROLES)} (got {role!r})", field=f"messages[{i}].role"
        )
    if "content" not in item:
        raise Invalid(f"messages[{i}].content is required", field=f"messages[{i}].content")
    parts = _parts(item["content"], f"messages[{i}].content")
    extra = {k: str(item[k]) for k in ("name", "otid", "sender_id", "group_id") if item.get(k)}
    return Message(
        organization_id=agent.organization_id, agent_id=agent.id, role=role, content=parts, run_id=run_id, **extra
    )


def _user(agent, text: str, run_id: str | None) -> Message:
    return Message(
        organization_id=agent.organization_id, agent_id=agent.id, role="user", content=text_parts(text), run_id=run_id
    )
