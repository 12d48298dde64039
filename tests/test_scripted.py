"""The scripted model over real HTTP, called the way the agent loop calls every model: through litellm."""

import json
import math

import pytest

pytestmark = pytest.mark.timeout(60)

MEMORY_TOOLS = {
    "memory_insert": {"label": "string", "new_string": "string", "insert_line": "integer"},
    "memory_replace": {"label": "string", "old_string": "string", "new_string": "string"},
    "core_memory_append": {"label": "string", "content": "string"},
    "archival_memory_insert": {"content": "string"},
    "archival_memory_search": {"query": "string"},
    "conversation_search": {"query": "string"},
    "send_message": {"message": "string"},
}


def tool(name, heartbeat=False):
    props = {k: {"type": t} for k, t in MEMORY_TOOLS[name].items()}
    required = [k for k in props if k != "insert_line"]
    if heartbeat:
        props["request_heartbeat"] = {"type": "boolean"}
        required.append("request_heartbeat")
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": name,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


def system(human="", persona="I am a helpful assistant."):
    def block(label, value):
        return (
            f"<{label}>\n<description>\nThe {label} block\n</description>\n<metadata>\n"
            f"- chars_current={len(value)}\n- chars_limit=5000\n</metadata>\n<value>\n{value}\n</value>\n</{label}>"
        )

    return {
        "role": "system",
        "content": "You are an agent.\n\n<memory_blocks>\nThe following memory blocks are "
        "currently engaged in your core memory unit:\n\n"
        + block("persona", persona)
        + "\n\n"
        + block("human", human)
        + "\n\n</memory_blocks>",
    }


@pytest.fixture(scope="module")
def litellm():
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def complete(litellm, scripted_llm, messages, tools=None, **kwargs):
    return litellm.completion(
        model="openai/scripted",
        api_base=scripted_llm.api_base,
        api_key="scripted",
        messages=messages,
        tools=tools,
        num_retries=0,
        max_retries=0,
        **kwargs,
    )


def stream(litellm, scripted_llm, messages, tools=None, **kwargs):
    """Stream a completion; return (text, tool calls reassembled by index, usage, chunk count)."""
    chunks = list(
        complete(litellm, scripted_llm, messages, tools, stream=True, stream_options={"include_usage": True}, **kwargs)
    )
    text, calls, usage = "", {}, None
    for chunk in chunks:
        usage = getattr(chunk, "usage", None) or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = call["id"] or tc.id
                call["name"] += tc.function.name or ""
                call["arguments"] += tc.function.arguments or ""
    return text, [calls[i] for i in sorted(calls)], usage, len(chunks)


def only_call(response):
    calls = response.choices[0].message.tool_calls
    assert len(calls) == 1
    return calls[0].function.name, json.loads(calls[0].function.arguments)


def test_models_route_lists_the_scripted_models(scripted_llm):
    import httpx

    ids = [m["id"] for m in httpx.get(scripted_llm.api_base + "/models").json()["data"]]
    assert ids == ["scripted", "scripted-embed"]


def test_plain_reply_quotes_core_memory_with_tiktoken_usage(litellm, scripted_llm):
    from memory.tokens import count_tokens

    messages = [system(human="Name: Ada\nLikes tea"), {"role": "user", "content": "Tell me something nice."}]
    response = complete(litellm, scripted_llm, messages)
    text = response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert "Name: Ada; Likes tea" in text
    assert response.usage.completion_tokens == count_tokens(text)
    assert response.usage.prompt_tokens > count_tokens(messages[0]["content"])
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_my_name_is_edits_the_human_block_then_answers_from_the_result(litellm, scripted_llm):
    tools = [tool("memory_insert"), tool("memory_replace"), tool("conversation_search")]
    messages = [system(human=""), {"role": "user", "content": "Hi! My name is Ada and I like green tea."}]
    first = complete(litellm, scripted_llm, messages, tools)
    assert first.choices[0].finish_reason == "tool_calls"
    name, args = only_call(first)
    assert (name, args) == (
        "memory_insert",
        {"label": "human", "new_string": "Name: Ada\nLikes green tea", "insert_line": -1},
    )
    call = first.choices[0].message.tool_calls[0]
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": name, "arguments": call.function.arguments}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"status": "OK", "message": "Name: Ada\nLikes green tea", "time": "now"}),
        },
    ]
    second = complete(litellm, scripted_llm, messages, tools)
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content == "Got it, Ada! I've saved that to my memory: Name: Ada; Likes green tea."


def test_a_known_name_is_replaced_and_a_failed_edit_is_reported(litellm, scripted_llm):
    tools = [tool("memory_insert"), tool("memory_replace")]
    messages = [system(human="Name: Chad"), {"role": "user", "content": "Actually, my name is Ada."}]
    name, args = only_call(complete(litellm, scripted_llm, messages, tools))
    assert (name, args) == ("memory_replace", {"label": "human", "old_string": "Name: Chad", "new_string": "Name: Ada"})
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": json.dumps(
                {"status": "Failed", "message": "Error This block is read-only and cannot be edited.", "time": "now"}
            ),
        },
    ]
    answer = complete(litellm, scripted_llm, messages, tools).choices[0].message.content
    assert answer == "I couldn't do that: Error This block is read-only and cannot be edited."


def test_older_memory_tools_are_used_when_they_are_the_ones_offered(litellm, scripted_llm):
    messages = [system(human="Name: Chad"), {"role": "user", "content": "I love hiking"}]
    name, args = only_call(complete(litellm, scripted_llm, messages, [tool("core_memory_append")]))
    assert (name, args) == ("core_memory_append", {"label": "human", "content": "Likes hiking"})


def test_remember_and_recall_use_archival_memory(litellm, scripted_llm):
    tools = [tool("archival_memory_insert"), tool("archival_memory_search"), tool("memory_insert")]
    insert = complete(
        litellm, scripted_llm, [system(), {"role": "user", "content": "Remember that my dentist is Dr. Who."}], tools
    )
    assert only_call(insert) == ("archival_memory_insert", {"content": "my dentist is Dr. Who"})

    messages = [system(), {"role": "user", "content": "What do you remember about my dentist?"}]
    search = complete(litellm, scripted_llm, messages, tools)
    assert only_call(search) == ("archival_memory_search", {"query": "my dentist"})
    rows = [
        {"id": "passage-1", "timestamp": "2026-01-01T00:00:00+00:00", "content": "my dentist is Dr. Who", "tags": []}
    ]
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "archival_memory_search", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"status": "OK", "message": str(rows)})},
    ]
    answer = complete(litellm, scripted_llm, messages, tools).choices[0].message.content
    assert answer == "Here's what I remember about my dentist: my dentist is Dr. Who."


def test_what_did_we_talk_about_searches_the_conversation(litellm, scripted_llm):
    tools = [tool("conversation_search")]
    messages = [system(), {"role": "user", "content": "What did we talk about regarding pizza?"}]
    assert only_call(complete(litellm, scripted_llm, messages, tools)) == ("conversation_search", {"query": "pizza"})
    found = {"message": "Showing 1 results:", "results": [{"role": "user", "content": "I love pizza"}]}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "conversation_search", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"status": "OK", "message": found})},
    ]
    answer = complete(litellm, scripted_llm, messages, tools).choices[0].message.content
    assert answer == 'Here\'s what we talked about: you said "I love pizza".'


def test_heartbeat_agents_chain_and_reply_through_send_message(litellm, scripted_llm):
    tools = [tool("send_message", True), tool("core_memory_append", True)]
    messages = [system(), {"role": "user", "content": "my name is Ada"}]
    first = complete(litellm, scripted_llm, messages, tools, tool_choice="required")
    name, args = only_call(first)
    assert name == "core_memory_append" and args["request_heartbeat"] is True
    assert first.choices[0].message.content  # inner monologue for heartbeat agents
    messages += [
        {
            "role": "assistant",
            "content": "thinking",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"status": "OK", "message": "Name: Ada"})},
        {"role": "user", "content": json.dumps({"type": "heartbeat", "reason": "continue", "time": "now"})},
    ]
    name, args = only_call(complete(litellm, scripted_llm, messages, tools, tool_choice="required"))
    assert name == "send_message"
    assert args == {"message": "Got it, Ada! I've saved that to my memory: Name: Ada.", "request_heartbeat": False}


def test_a_named_tool_choice_is_always_obeyed(litellm, scripted_llm):
    tools = [tool("conversation_search"), tool("send_message")]
    messages = [system(), {"role": "user", "content": "hello there"}]
    response = complete(
        litellm,
        scripted_llm,
        messages,
        tools,
        tool_choice={"type": "function", "function": {"name": "conversation_search"}},
    )
    assert only_call(response) == ("conversation_search", {"query": "hello there"})


def test_stream_sends_words_and_tool_call_deltas_that_reassemble(litellm, scripted_llm):
    text, calls, usage, count = stream(
        litellm, scripted_llm, [system(human="Name: Ada"), {"role": "user", "content": "hello"}]
    )
    assert text == "Hello, Ada! How can I help you today?"
    assert calls == [] and usage.completion_tokens > 0 and count >= 8

    scripted_llm.queue(
        {
            "tool_calls": [
                {"name": "memory_insert", "arguments": {"label": "human", "new_string": "x" * 50}},
                {"name": "send_message", "arguments": {"message": "Saved it."}, "id": "call_b"},
            ],
            "usage": {"prompt_tokens": 9500},
        }
    )
    text, calls, usage, count = stream(
        litellm, scripted_llm, [{"role": "user", "content": "hi"}], [tool("memory_insert"), tool("send_message")]
    )
    assert [c["name"] for c in calls] == ["memory_insert", "send_message"]
    assert json.loads(calls[0]["arguments"]) == {"label": "human", "new_string": "x" * 50}
    assert calls[1]["id"] == "call_b" and json.loads(calls[1]["arguments"]) == {"message": "Saved it."}
    assert count > 10  # the arguments arrived in many small deltas
    assert usage.prompt_tokens == 9500 and usage.total_tokens == 9500 + usage.completion_tokens


def test_queued_text_then_brain_again(litellm, scripted_llm):
    scripted_llm.queue_text("Exactly this.")
    scripted_llm.queue_tool_call("send_message", {"message": "queued"}, id="call_q")
    messages = [{"role": "user", "content": "hello"}]
    assert complete(litellm, scripted_llm, messages).choices[0].message.content == "Exactly this."
    queued = complete(litellm, scripted_llm, messages, [tool("send_message")]).choices[0].message.tool_calls[0]
    assert (queued.id, queued.function.name, queued.function.arguments) == (
        "call_q",
        "send_message",
        '{"message": "queued"}',
    )
    assert complete(litellm, scripted_llm, messages).choices[0].message.content == "Hello! How can I help you today?"
    seen = scripted_llm.requests()
    assert len(seen) == 3 and seen[1]["tools"][0]["function"]["name"] == "send_message"


def test_queued_errors_map_to_litellm_exceptions(litellm, scripted_llm):
    messages = [{"role": "user", "content": "hello"}]
    scripted_llm.queue_error("context_length_exceeded")
    with pytest.raises(litellm.ContextWindowExceededError):
        complete(litellm, scripted_llm, messages)
    scripted_llm.queue_error("rate_limit")
    with pytest.raises(litellm.RateLimitError):
        complete(litellm, scripted_llm, messages)
    scripted_llm.queue_error({"status": 503, "message": "overloaded"})
    with pytest.raises(litellm.ServiceUnavailableError):
        complete(litellm, scripted_llm, messages)
    assert len(scripted_llm.requests()) == 3  # each error consumed exactly one request: no hidden retries
    assert complete(litellm, scripted_llm, messages).choices[0].message.content


def test_summarisation_requests_get_a_summary(litellm, scripted_llm):
    transcript = "<start_transcript>\n[user] I adopted a cat named Miso\n[assistant] Lovely!\n<end_transcript>\n"
    response = complete(
        litellm,
        scripted_llm,
        [
            {"role": "system", "content": "Summarize."},
            {"role": "user", "content": transcript + ". Generate the summary."},
        ],
    )
    summary = response.choices[0].message.content
    assert "I adopted a cat named Miso" in summary and "miso" in summary.lower()


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_are_deterministic_normalised_and_meaningful(litellm, scripted_llm):
    texts = ["My birthday is on March 3", "birthday party in March", "The server uses PostgreSQL"]
    result = litellm.embedding(
        model="openai/scripted-embed", api_base=scripted_llm.api_base, api_key="scripted", input=texts
    )
    vectors = [d["embedding"] for d in result.data]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-6) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > 0.3 > abs(cosine(vectors[0], vectors[2]))
    assert result.usage.prompt_tokens > 0
    again = litellm.embedding(
        model="openai/scripted-embed",
        api_base=scripted_llm.api_base,
        api_key="scripted",
        input="My birthday is on March 3",
    )
    assert again.data[0]["embedding"] == vectors[0]


def test_embeddings_honour_dimensions_and_base64(scripted_llm):
    # litellm refuses `dimensions` for non text-embedding-3 names, so this goes to the route directly.
    import base64
    import struct

    import httpx

    url = scripted_llm.api_base + "/embeddings"
    plain = httpx.post(url, json={"model": "scripted-embed", "input": "tea", "dimensions": 64}).json()
    packed = httpx.post(
        url, json={"model": "scripted-embed", "input": ["tea"], "dimensions": 64, "encoding_format": "base64"}
    ).json()
    vector = plain["data"][0]["embedding"]
    assert len(vector) == 64 and plain["usage"]["total_tokens"] == 1
    decoded = struct.unpack("<64f", base64.b64decode(packed["data"][0]["embedding"]))
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(vector, decoded, strict=True))


def test_pace_spreads_a_stream_over_time(litellm, scripted_llm):
    import time

    scripted_llm.queue_text("one two three four five six", pace_ms=40)
    started = time.monotonic()
    text, _, _, _ = stream(litellm, scripted_llm, [{"role": "user", "content": "count"}])
    assert text == "one two three four five six"
    assert time.monotonic() - started >= 0.15  # 5 paced gaps of 40 ms: the words did not arrive at once


def test_a_repeated_error_outlasts_retries_then_the_queue_moves_on(litellm, scripted_llm):
    scripted_llm.queue_error("server_error", repeat=2)
    scripted_llm.queue_text("after the outage")
    messages = [{"role": "user", "content": "hello"}]
    for _ in range(2):
        with pytest.raises(litellm.InternalServerError):
            complete(litellm, scripted_llm, messages)
    assert complete(litellm, scripted_llm, messages).choices[0].message.content == "after the outage"


def test_queued_reasoning_arrives_as_reasoning_content(litellm, scripted_llm):
    scripted_llm.queue_text("Hi.", reasoning="The user greets me.")
    scripted_llm.queue_text("Hi.", reasoning="The user greets me.")
    message = complete(litellm, scripted_llm, [{"role": "user", "content": "hello"}]).choices[0].message
    assert (message.content, message.reasoning_content) == ("Hi.", "The user greets me.")
    chunks = list(complete(litellm, scripted_llm, [{"role": "user", "content": "hello"}], stream=True))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "The user greets me."


def automated(reason):
    return {
        "role": "user",
        "content": json.dumps(
            {
                "type": "heartbeat",
                "time": "now",
                "reason": f"[This is an automated system message hidden from the user] {reason}",
            }
        ),
    }


def test_tool_rule_reminders_make_it_call_the_named_tool(litellm, scripted_llm):
    tools = [tool("conversation_search"), tool("archival_memory_search")]
    messages = [
        system(),
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hello!"},
        automated("ToolRuleViolated: You must call archival_memory_search at least once to exit the loop."),
    ]
    assert only_call(complete(litellm, scripted_llm, messages, tools)) == ("archival_memory_search", {"query": "hello"})

    violation = json.dumps(
        {
            "status": "Failed",
            "time": "now",
            "message": "[ToolConstraintError] Cannot call send_message, valid tools include: ['conversation_search'].",
        }
    )
    messages = [
        system(),
        {"role": "user", "content": "hello"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "send_message", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": violation},
        automated("Continuing: tool rule violation."),
    ]
    assert only_call(complete(litellm, scripted_llm, messages, tools, tool_choice="required")) == (
        "conversation_search",
        {"query": "hello"},
    )


def test_line_numbered_blocks_are_read_without_their_numbers(litellm, scripted_llm):
    prompt = system(human="NAME")["content"].replace(
        "<value>\nNAME\n</value>",
        "<warning>\n# NOTE: Line numbers shown below\n</warning>\n<value>\n1→ Name: Ada\n2→ Likes tea\n</value>",
    )
    reply = complete(
        litellm,
        scripted_llm,
        [{"role": "system", "content": prompt}, {"role": "user", "content": "what do you know about me?"}],
    )
    assert reply.choices[0].message.content == "Here is what I know about you: Name: Ada; Likes tea."


def test_a_fact_that_ends_a_sentence_gets_no_second_full_stop(litellm, scripted_llm):
    prompt = system(human="Name: Ada L.")["content"]
    for question, answer in [
        ("what do you know about me?", "Here is what I know about you: Name: Ada L."),
        ("what is my name?", "Your name is Ada L."),
    ]:
        messages = [{"role": "system", "content": prompt}, {"role": "user", "content": question}]
        assert complete(litellm, scripted_llm, messages).choices[0].message.content == answer


def test_the_all_in_one_memory_tool_is_used_when_it_is_the_only_one(litellm, scripted_llm):
    memory = {
        "type": "function",
        "function": {
            "name": "memory",
            "parameters": {
                "type": "object",
                "properties": {
                    k: {"type": "integer" if k == "insert_line" else "string"}
                    for k in ("command", "path", "insert_text", "insert_line", "old_string", "new_string")
                },
                "required": ["command"],
            },
        },
    }
    response = complete(
        litellm, scripted_llm, [system(), {"role": "user", "content": "My favorite color is teal."}], [memory]
    )
    assert only_call(response) == (
        "memory",
        {"command": "insert", "path": "/memories/human", "insert_text": "Favorite color: teal", "insert_line": -1},
    )


def test_required_tool_without_send_message_calls_an_offered_tool(litellm, scripted_llm):
    lookup = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "units": {"type": "string", "enum": ["c", "f"]},
                },
                "required": ["city", "days", "units"],
            },
        },
    }
    response = complete(
        litellm,
        scripted_llm,
        [system(), {"role": "user", "content": "weather in Oslo"}],
        [lookup],
        tool_choice="required",
    )
    assert only_call(response) == ("lookup", {"city": "weather in Oslo", "days": 1, "units": "c"})
    auto = complete(litellm, scripted_llm, [system(), {"role": "user", "content": "weather in Oslo"}], [lookup])
    assert auto.choices[0].message.tool_calls is None  # nothing obliges it: it just answers


def test_tool_choice_none_and_any(litellm, scripted_llm):
    tools = [tool("memory_insert"), tool("send_message")]
    messages = [system(), {"role": "user", "content": "my name is Ada"}]
    quiet = complete(litellm, scripted_llm, messages, tools, tool_choice="none").choices[0].message
    assert quiet.tool_calls is None and quiet.content.startswith('You said: "my name is Ada"')
    import httpx  # Anthropic-style {"type": "any"}: litellm would translate it, so send it to the route directly

    body = {
        "model": "scripted",
        "messages": [system(), {"role": "user", "content": "hello"}],
        "tools": [tool("send_message")],
        "tool_choice": {"type": "any"},
    }
    reply = httpx.post(scripted_llm.api_base + "/chat/completions", json=body).json()["choices"][0]["message"]
    assert reply["tool_calls"][0]["function"]["name"] == "send_message"


def test_the_request_log_keeps_the_last_thousand_bodies_as_sent(scripted_llm):
    """A long demo on the scripted model must not grow without limit: the log keeps the last 1,000 requests (their
    bytes; each read back as the body that was sent)."""
    import httpx

    with httpx.Client(base_url=scripted_llm.api_base) as http:
        for i in range(1003):
            body = {"model": "scripted-embed", "input": f"request {i}", "dimensions": 8}
            assert http.post("/embeddings", json=body).status_code == 200
    log = scripted_llm.requests(None)
    assert len(log) == 1000  # the bound, whatever else may have called the model meanwhile
    inputs = [entry["body"]["input"] for entry in log if entry["endpoint"] == "embeddings"]
    assert len(inputs) >= 990 and inputs == [f"request {i}" for i in range(1003 - len(inputs), 1003)]
    assert log[-1]["body"] == {"model": "scripted-embed", "input": "request 1002", "dimensions": 8}
