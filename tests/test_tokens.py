"""Offline token counting with the encodings litellm ships."""

import os

import pytest
import tiktoken

from memory import tokens

MIXED = "Grüße aus Köln! 東京で会いましょう。 def f(x): return x**2"


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4.1-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("anthropic/claude-sonnet-4-5", "cl100k_base"),
        ("engram/scripted", "cl100k_base"),
        (None, "cl100k_base"),
    ],
)
def test_model_family_picks_the_encoding(model, encoding):
    assert tokens.encoding_name(model) == encoding


def test_counts_match_tiktoken_for_each_family_offline():
    assert "litellm" in os.environ["TIKTOKEN_CACHE_DIR"]  # the bundled files, not a download
    cl100k, o200k = tiktoken.get_encoding("cl100k_base"), tiktoken.get_encoding("o200k_base")
    assert tokens.count_tokens(MIXED) == len(cl100k.encode(MIXED))
    assert tokens.count_tokens(MIXED, "gpt-4.1") == len(o200k.encode(MIXED))
    assert len(cl100k.encode(MIXED)) != len(o200k.encode(MIXED))  # so the family really matters
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("") == 0
    assert tokens.count_tokens("<|endoftext|>") > 1  # special tokens are counted as text, never refused


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_an_encoding_counts_without_its_python_copy_of_the_ranks(name):
    encoding = tokens._encoding(name)
    assert "_mergeable_ranks" not in vars(encoding)  # the ~27 MiB dict only pickling read
    assert encoding.decode(encoding.encode(MIXED)) == MIXED
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [encoding.eot_token]
    assert encoding.n_vocab > 100_000


def test_an_unloadable_encoding_falls_back_to_length(monkeypatch):
    monkeypatch.setattr(tokens, "encoding_name", lambda model: "no_such_encoding")
    assert tokens.count_tokens("x" * 40) == 11


def test_message_tokens_add_framing_content_and_tool_calls():
    user = {"role": "user", "content": "What is my name?"}
    framing = tokens.MESSAGE_OVERHEAD + tokens.count_tokens("user")
    assert tokens.count_message_tokens([user]) == (
        tokens.REPLY_PRIMER + framing + tokens.count_tokens("What is my name?")
    )
    parts = {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]}
    assert tokens.count_message_tokens([parts]) == tokens.count_message_tokens([user])
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "memory_insert", "arguments": '{"label": "human"}'}}
        ],
    }
    assert tokens.count_message_tokens([user, call]) > tokens.count_message_tokens([user]) + 10
    assert tokens.count_message_tokens([]) == 0


def test_tool_schemas_are_counted():
    schema = {
        "name": "send_message",
        "description": "Send a message to the user.",
        "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
    }
    one = tokens.count_tool_tokens([schema])
    assert one > tokens.count_tokens("Send a message to the user.")
    assert tokens.count_tool_tokens([schema, schema]) == 2 * one
    assert tokens.count_tool_tokens([]) == 0 and tokens.count_tool_tokens(None) == 0


def test_a_long_text_is_counted_once_and_each_text_keeps_its_own_count(monkeypatch):
    """Long texts' counts are kept by digest (the ADE's context window counts a long context's JSON on every page
    load): the same text is not encoded again, and texts of the same length, or under another encoding, keep
    their own counts."""
    first, second = (MIXED + " ") * 1000, (MIXED[::-1] + " ") * 1000
    assert len(first) == len(second) >= tokens._LONG_TEXT
    expected = {
        (text, name): len(tiktoken.get_encoding(name).encode(text, disallowed_special=()))
        for text in (first, second)
        for name in ("cl100k_base", "o200k_base")
    }
    for (text, name), count in expected.items():
        assert tokens.count_tokens(text, "gpt-4o" if name == "o200k_base" else "gpt-4") == count
    encoded = []
    real = tokens._encoding

    def watched(name):
        enc = real(name)
        return type("Watched", (), {"encode": lambda self, t, **kw: encoded.append(t) or enc.encode(t, **kw)})()

    monkeypatch.setattr(tokens, "_encoding", watched)
    assert tokens.count_tokens(first, "gpt-4") == expected[(first, "cl100k_base")] and encoded == []
    assert tokens.count_tokens(first + "!", "gpt-4") > 0 and encoded == [first + "!"]  # a new text is counted
    assert tokens.count_tokens("short", "gpt-4") == 1 and encoded[-1] == "short"  # short texts are not kept
