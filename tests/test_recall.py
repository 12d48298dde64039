"""conversation_search over recall memory: text, roles and dates, with tool noise left out."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from ade.errors import Invalid
from agents.models import Agent, Message
from memory.recall import conversation_search
from tools.actions import ensure_base_tools
from tools.executor import execute_tool


def make_agent(org, **fields) -> Agent:
    return Agent.objects.create(
        organization=org,
        name=fields.pop("name", "ada"),
        llm_config={"model": "scripted", "context_window": 8000},
        **fields,
    )


def say(agent, role, text=None, *, calls=None, ago=timedelta(0), name=""):
    """A stored message; `calls` are (tool name, arguments) pairs."""
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(calls or [])
    ] or None
    return Message.objects.create(
        organization_id=agent.organization_id,
        agent=agent,
        role=role,
        content=[{"type": "text", "text": text}] if text is not None else [],
        tool_calls=tool_calls,
        created_at=timezone.now() - ago,
        name=name,
    )


def contents(result) -> list:
    return [r.get("content") for r in result["results"]]


def test_finds_matching_messages_newest_first_in_the_spec_format(org):
    agent = make_agent(org)
    say(agent, "user", "I adopted a dog called Biscuit", ago=timedelta(hours=2))
    say(agent, "assistant", "Biscuit is a lovely name for a dog!", ago=timedelta(minutes=5))
    say(agent, "user", "What's the weather like?")

    result = conversation_search(agent, "biscuit")

    assert result["message"] == "Showing 2 results:"
    newest, oldest = result["results"]
    assert list(newest) == ["timestamp", "time_ago", "role", "content"]
    assert (newest["role"], newest["content"], newest["time_ago"]) == (
        "assistant",
        "Biscuit is a lovely name for a dog!",
        "5m ago",
    )
    assert (oldest["role"], oldest["time_ago"]) == ("user", "2h ago")
    assert conversation_search(agent, "giraffe") == {"message": "No results found.", "results": []}


def test_tool_noise_never_shows_up(org):
    agent = make_agent(org)
    say(agent, "system", "You are an agent. biscuit")
    say(agent, "user", json.dumps({"type": "heartbeat", "reason": "biscuit heartbeat", "time": "now"}))
    say(agent, "assistant", None, calls=[("conversation_search", {"query": "biscuit"})])
    say(agent, "tool", json.dumps({"status": "OK", "message": "biscuit results"}), name="conversation_search")
    say(agent, "tool", json.dumps({"status": "OK", "message": "biscuit stored"}), name="archival_memory_insert")
    say(agent, "assistant", None, calls=[("archival_memory_insert", {"content": "biscuit"})])
    real = say(agent, "user", "Tell me about biscuit")

    result = conversation_search(agent, "biscuit")

    assert result["message"] == "Showing 1 results:"
    assert [(r["role"], r["content"]) for r in result["results"]] == [("user", real.text)]


def test_send_message_calls_show_the_reply_and_the_thinking(org):
    agent = make_agent(org, agent_type="memgpt_v2_agent")
    say(
        agent,
        "assistant",
        "User asked about the launch.",
        calls=[("send_message", {"message": "The launch is in Lisbon."})],
    )
    say(agent, "tool", json.dumps({"status": "OK", "message": "Sent message successfully."}), name="send_message")

    [hit] = conversation_search(agent, "lisbon")["results"]
    assert (hit["role"], hit["thinking"], hit["content"]) == (
        "assistant",
        "User asked about the launch.",
        "The launch is in Lisbon.",
    )


def test_roles_filter(org):
    agent = make_agent(org)
    say(agent, "user", "tea please")
    say(agent, "assistant", "tea is coming")
    assert [r["role"] for r in conversation_search(agent, "tea", roles=["user"])["results"]] == ["user"]
    assert conversation_search(agent, "tea", roles=["tool"])["results"] == []
    with pytest.raises(Invalid, match="unknown role"):
        conversation_search(agent, "tea", roles=["system"])


def test_date_filters_are_applied(org):
    agent = make_agent(org)
    say(agent, "user", "old news about tea", ago=timedelta(days=3))
    say(agent, "user", "fresh news about tea")
    today = timezone.now().date().isoformat()
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()

    assert contents(conversation_search(agent, "tea", roles=["user"], end_date=today)) == [
        "fresh news about tea",
        "old news about tea",
    ]
    assert contents(conversation_search(agent, "tea", start_date=yesterday)) == ["fresh news about tea"]
    assert contents(conversation_search(agent, "tea", end_date=yesterday)) == ["old news about tea"]
    assert conversation_search(agent, "tea", start_date=tomorrow)["results"] == []
    old = conversation_search(agent, "old news")["results"][0]
    assert old["time_ago"] == "3d ago"
    with pytest.raises(Invalid) as info:
        conversation_search(agent, "tea", end_date="yesterday")
    assert str(info.value) == (
        "Invalid end_date format: yesterday. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
    )


def test_without_a_query_the_latest_messages_come_back_up_to_the_limit(org):
    agent = make_agent(org)
    for i in range(8):
        say(agent, "user", f"message {i}")
        say(agent, "tool", json.dumps({"status": "OK", "message": "noise"}), name="memory_insert")
    assert contents(conversation_search(agent, limit=3)) == ["message 7", "message 6", "message 5"]
    assert len(conversation_search(agent)["results"]) == 5
    with pytest.raises(Invalid, match="limit"):
        conversation_search(agent, limit=0)


def test_queries_the_json_storage_would_escape_still_match(org):
    agent = make_agent(org)
    say(agent, "user", 'We met at the Café "Lua" on Tuesday')
    assert len(conversation_search(agent, "café")["results"]) == 1
    assert len(conversation_search(agent, '"lua"')["results"]) == 1
    assert conversation_search(agent, "text")["results"] == []  # JSON keys are not content


def test_packaged_user_messages_are_returned_as_their_json(org):
    agent = make_agent(org)
    say(agent, "user", json.dumps({"type": "user_message", "message": "I love jazz", "time": "t"}))
    [hit] = conversation_search(agent, "jazz")["results"]
    assert (hit["type"], hit["message"]) == ("user_message", "I love jazz")


def test_messages_out_of_context_and_other_agents(org):
    agent, other = make_agent(org), make_agent(org, name="other")
    evicted = say(agent, "user", "my locker code is 4242")
    say(other, "user", "their locker code is 1111")
    agent.message_ids = []  # not in context any more: still in recall
    agent.save()
    assert contents(conversation_search(agent, "locker")) == [evicted.text]


def test_the_conversation_search_tool(org):
    agent = make_agent(org)
    say(agent, "user", "The wifi password is hunter2")
    tools = ensure_base_tools(org)
    result = execute_tool(agent, tools["conversation_search"], {"query": "wifi", "roles": ["user"], "limit": 2})
    assert result.status == "success"
    assert result.func_return["message"] == "Showing 1 results:"  # a dict stays an object for the packaged return
    assert result.func_return["results"][0]["content"] == "The wifi password is hunter2"
    bad = execute_tool(agent, tools["conversation_search"], {"start_date": "2024-13-45"})
    assert (bad.status, bad.func_return) == (
        "error",
        "Invalid start_date format: 2024-13-45. Use ISO 8601 format (YYYY-MM-DD or YYYY-MM-DDTHH:MM)",
    )
