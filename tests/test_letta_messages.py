"""Stored messages → LettaMessage dicts, checked against the real letta-client 1.12.1 models."""

import json
from datetime import UTC, datetime

import pytest
from letta_client.types.agents import (
    ApprovalRequestMessage,
    ApprovalResponseMessage,
    AssistantMessage,
    HiddenReasoningMessage,
    LettaResponse,
    ReasoningMessage,
    SummaryMessage,
    SystemMessage,
    ToolCallMessage,
    UserMessage,
)
from letta_client.types.agents.message import Message as WireMessage
from letta_client.types.tool_return_message import ToolReturnMessage
from pydantic import TypeAdapter

from agents.models import Message
from agents.runtime.letta_messages import (
    letta_response,
    messages_to_letta,
    part_otid,
    to_letta_messages,
    usage_dict,
)

WIRE = TypeAdapter(WireMessage)
WHEN = datetime(2026, 1, 22, 2, 6, 34, 48456, tzinfo=UTC)
STEP, RUN = "step-0b7e4a52-3f3c-4f4e-9d5a-6f1f3f0e6a11", "run-9b2c7f0e-1d2e-4a3b-8c4d-5e6f7a8b9c0d"


def row(role, content=(), **fields):
    parts = [{"type": "text", "text": c} if isinstance(c, str) else c for c in content]
    return Message(role=role, content=parts, created_at=WHEN, step_id=STEP, run_id=RUN, **fields)


def wire(messages):
    """Each dict parsed by the SDK's discriminated union, as a client would."""
    return [WIRE.validate_python(m) for m in messages]


def call(name, args, call_id="call_1"):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def test_envelope_date_otid_and_ids():
    message = row("system", ["You are Sam."])
    [out] = to_letta_messages(message)
    [parsed] = wire([out])
    assert isinstance(parsed, SystemMessage) and parsed.content == "You are Sam."
    assert out["date"] == "2026-01-22T02:06:34+00:00"
    assert (out["id"], out["step_id"], out["run_id"], out["seq_id"], out["is_err"]) == (
        message.id,
        STEP,
        RUN,
        None,
        None,
    )
    assert out["otid"] == part_otid(message.id, 0) and out["otid"][-2:] in ("00", "80")
    assert out["otid"].split("-")[:4] == message.id.removeprefix("message-").split("-")[:4]


def test_part_otids_set_the_low_seven_bits_of_the_message_uuid():
    """Read from the id's text for our own (lowercase) ids; other spellings go through uuid.UUID, same answer."""
    import uuid

    raw = uuid.UUID("0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2ff")
    for index in (0, 1, 5, 127, 128, 300):
        expected = str(uuid.UUID(int=(raw.int & ~0x7F) | (index & 0x7F)))
        assert part_otid(f"message-{raw}", index) == expected
        assert part_otid(f"message-{str(raw).upper()}", index) == expected
    assert part_otid(f"message-{raw}", 2).endswith("c282")  # the top bit of the last byte is kept


def test_user_text_keeps_client_otid_and_parts_stay_parts():
    plain = row("user", ["hi there"], otid="client-otid-1", name="ada", sender_id="identity-1")
    [out] = to_letta_messages(plain)
    [parsed] = wire([out])
    assert isinstance(parsed, UserMessage)
    assert (parsed.content, parsed.otid, parsed.name, parsed.sender_id) == (
        "hi there",
        "client-otid-1",
        "ada",
        "identity-1",
    )
    image = {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.png"}}
    [out] = to_letta_messages(row("user", ["look", image]))
    [parsed] = wire([out])
    assert isinstance(parsed, UserMessage) and parsed.content[1].source.url == "https://example.org/cat.png"
    packaged = json.dumps({"type": "user_message", "message": "legacy hello", "time": "now"})
    assert to_letta_messages(row("user", [packaged]))[0]["content"] == "legacy hello"


def test_letta_v1_reply_with_reasoning_and_tool_call():
    message = row(
        "assistant",
        [{"type": "reasoning", "reasoning": "User greets.", "is_native": True, "signature": "sig"}, "Hello!"],
        tool_calls=[call("memory_insert", {"label": "human", "new_string": "Name: Ada"})],
    )
    out = to_letta_messages(message)
    parsed = wire(out)
    assert [type(p) for p in parsed] == [ReasoningMessage, AssistantMessage, ToolCallMessage]
    assert parsed[0].source == "reasoner_model" and parsed[0].signature == "sig"
    assert parsed[1].content == "Hello!"
    assert parsed[2].tool_call.name == "memory_insert" and parsed[2].tool_call.tool_call_id == "call_1"
    assert json.loads(parsed[2].tool_call.arguments) == {"label": "human", "new_string": "Name: Ada"}
    assert parsed[2].tool_calls[0].name == "memory_insert"
    assert {p.id for p in parsed} == {message.id}
    assert [o["otid"] for o in out] == [part_otid(message.id, i) for i in range(3)]
    assert [int(o["otid"][-1], 16) % 8 for o in out] == [0, 1, 2]


def test_heartbeat_agent_send_message_becomes_assistant_message_unless_disabled():
    message = row(
        "assistant",
        [{"type": "reasoning", "reasoning": "Answer kindly.", "is_native": False}],
        tool_calls=[call("send_message", {"message": "Hi Ada", "request_heartbeat": False})],
    )
    parsed = wire(to_letta_messages(message, text_is_assistant=False))
    assert [type(p) for p in parsed] == [ReasoningMessage, AssistantMessage]
    assert parsed[0].source == "non_reasoner_model" and parsed[1].content == "Hi Ada"
    raw = wire(to_letta_messages(message, use_assistant_message=False))
    assert isinstance(raw[1], ToolCallMessage) and raw[1].tool_call.name == "send_message"
    custom = row("assistant", [], tool_calls=[call("reply", {"text": "Yo"})])
    [parsed] = wire(to_letta_messages(custom, assistant_message_tool_name="reply", assistant_message_tool_kwarg="text"))
    assert isinstance(parsed, AssistantMessage) and parsed.content == "Yo"


def test_text_parts_are_inner_thoughts_for_heartbeat_agents():
    [parsed] = wire(to_letta_messages(row("assistant", ["thinking out loud"]), text_is_assistant=False))
    assert isinstance(parsed, ReasoningMessage) and parsed.reasoning == "thinking out loud"


def test_hidden_reasoning():
    parsed = wire(
        to_letta_messages(
            row("assistant", [{"type": "redacted_reasoning", "data": "xx"}, {"type": "omitted_reasoning"}])
        )
    )
    assert [(type(p), p.state) for p in parsed] == [
        (HiddenReasoningMessage, "redacted"),
        (HiddenReasoningMessage, "omitted"),
    ]


def test_tool_returns_one_per_call_with_status_and_output():
    packaged = [
        json.dumps({"status": "OK", "message": "Name: Ada", "time": "t"}),
        json.dumps({"status": "Failed", "message": "boom", "time": "t"}),
    ]
    message = row(
        "tool",
        packaged,
        tool_call_id="call_1",
        name="memory_insert",
        tool_returns=[
            {
                "tool_call_id": "call_1",
                "status": "success",
                "func_response": "Name: Ada",
                "stdout": ["printed"],
                "stderr": None,
            },
            {"tool_call_id": "call_2", "status": "error", "func_response": None, "stdout": None, "stderr": ["trace"]},
        ],
    )
    out = to_letta_messages(message)
    parsed = wire(out)
    assert all(isinstance(p, ToolReturnMessage) for p in parsed)
    assert (parsed[0].tool_return, parsed[0].status, parsed[0].tool_call_id, parsed[0].stdout) == (
        "Name: Ada",
        "success",
        "call_1",
        ["printed"],
    )
    assert (parsed[1].tool_return, parsed[1].status, parsed[1].tool_call_id, parsed[1].stderr) == (
        packaged[1],
        "error",
        "call_2",
        ["trace"],
    )
    assert parsed[1].tool_returns[0].tool_call_id == "call_2"


def test_tool_row_without_structured_returns_reads_the_packaged_status():
    failed = json.dumps({"status": "Failed", "message": "nope", "time": "t"})
    [parsed] = wire(to_letta_messages(row("tool", [failed], tool_call_id="call_9", is_err=True)))
    assert isinstance(parsed, ToolReturnMessage)
    assert (parsed.status, parsed.tool_call_id, parsed.is_err) == ("error", "call_9", True)


def test_approval_request_and_response():
    request = row(
        "approval",
        [{"type": "reasoning", "reasoning": "Needs approval", "is_native": False}],
        tool_calls=[call("deploy", {"env": "prod"}), call("notify", {}, "call_2")],
    )
    parsed = wire(to_letta_messages(request))
    assert [type(p) for p in parsed] == [ReasoningMessage, ApprovalRequestMessage]
    assert parsed[1].tool_call.name == "deploy" and [c.tool_call_id for c in parsed[1].tool_calls] == [
        "call_1",
        "call_2",
    ]
    response = row(
        "approval",
        [],
        approve=False,
        denial_reason="no",
        approval_request_id=request.id,
        approvals=[
            {"type": "approval", "tool_call_id": "call_1", "approve": False, "reason": "no"},
            {"type": "tool", "tool_call_id": "call_2", "status": "success", "tool_return": "done"},
        ],
    )
    [parsed] = wire(to_letta_messages(response))
    assert isinstance(parsed, ApprovalResponseMessage)
    assert (parsed.approve, parsed.reason, parsed.approval_request_id) == (False, "no", request.id)
    assert parsed.approvals[0].approve is False and parsed.approvals[1].tool_return == "done"


def test_summary_rows_and_compaction_alerts():
    alert = json.dumps(
        {
            "type": "system_alert",
            "time": "t",
            "message": "Note: prior messages have been hidden.\n"
            "The following is a summary of the previous messages:\n Ada likes tea.",
            "compaction_stats": {
                "trigger": "post_step_context_check",
                "context_window": 10000,
                "messages_count_before": 20,
                "messages_count_after": 6,
            },
        }
    )
    [parsed] = wire(to_letta_messages(row("summary", [alert])))
    assert isinstance(parsed, SummaryMessage) and parsed.summary.endswith("Ada likes tea.")
    assert parsed.compaction_stats.messages_count_before == 20
    assert isinstance(wire(to_letta_messages(row("user", [alert])))[0], UserMessage)
    assert isinstance(wire(to_letta_messages(row("user", [alert]), include_compaction=True))[0], SummaryMessage)


def test_letta_response_and_usage_validate_against_the_sdk():
    rows = [row("assistant", ["Hi!"]), row("tool", ["[]"], tool_call_id="call_1")]
    usage = usage_dict({"prompt_tokens": 3120, "completion_tokens": 42, "step_count": 1}, context_tokens=3162)
    body = letta_response(messages_to_letta(rows), "end_turn", usage)
    response = LettaResponse.model_validate(body)
    assert [type(m) for m in response.messages] == [AssistantMessage, ToolReturnMessage]
    assert response.stop_reason.stop_reason == "end_turn"
    assert (response.usage.total_tokens, response.usage.context_tokens, response.usage.step_count) == (3162, 3162, 1)
    assert body["usage"]["message_type"] == "usage_statistics" and body["stop_reason"]["message_type"] == "stop_reason"
    assert usage_dict()["total_tokens"] == 0


@pytest.mark.parametrize("role", ["system", "user", "assistant", "tool", "approval", "summary"])
def test_every_part_names_its_type(role):
    message = row(role, ["x"], tool_call_id="call_1")
    for part in to_letta_messages(message):
        assert part["message_type"] and part["id"] == message.id and part["date"].endswith("+00:00")
