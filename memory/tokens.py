"""Token counting with tiktoken, offline.

Encodings come from the files litellm bundles (settings point TIKTOKEN_CACHE_DIR at them), so nothing is
downloaded. Newer OpenAI models use o200k_base; everything else is approximated with cl100k_base. If an encoding
cannot be loaded at all, counts fall back to one token per four characters.
"""

import functools
import hashlib
import json
import logging
import threading
from collections import OrderedDict

log = logging.getLogger(__name__)

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")
# Per-message framing the chat format adds around each message, and the reply primer (OpenAI's published rule).
MESSAGE_OVERHEAD = 3
REPLY_PRIMER = 3
TOOL_OVERHEAD = 8


def encoding_name(model: str | None) -> str:
    """The tiktoken encoding for a model name or handle ("openai/gpt-4.1-mini" → o200k_base)."""
    name = (model or "").rsplit("/", 1)[-1].lower()
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


@functools.cache
def _encoding(name: str):
    try:
        import tiktoken

        from ade.config import configure_tiktoken_offline

        configure_tiktoken_offline()  # idempotent; matters when used outside Django settings
        encoding = tiktoken.get_encoding(name)
    except Exception as exc:  # offline and not bundled: degrade to an estimate rather than fail a turn
        log.warning("tiktoken encoding %s unavailable (%s); estimating tokens from length", name, exc)
        return None
    # tiktoken keeps the ranks twice: in its Rust encoder, which counts, and as a Python dict that only pickling
    # the encoding reads (nothing here pickles one). Dropping the dict took a server's RSS after its warm-up from
    # 289 to 276 MiB (o200k_base; in a bare process the encoding's share went from 72 to 45 MiB).
    encoding.__dict__.pop("_mergeable_ranks", None)
    return encoding


# Counts of long texts, by digest: the ADE's context window counts a long context's whole JSON on every page load
# (3,000 messages, 1.4 MB: 138 ms to encode, 3 ms to hash). Short texts are counted anew: hashing saves nothing.
_LONG_TEXT = 32_768
_LONG_COUNTS_KEPT = 256
_long_counts: OrderedDict = OrderedDict()
_long_counts_lock = threading.Lock()


def count_tokens(text: str, model: str | None = None) -> int:
    if not text:
        return 0
    name = encoding_name(model)
    enc = _encoding(name)
    if enc is None:
        return len(text) // 4 + 1
    if len(text) < _LONG_TEXT:
        return len(enc.encode(text, disallowed_special=()))
    key = (name, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest())
    with _long_counts_lock:
        known = _long_counts.get(key)
        if known is not None:
            _long_counts.move_to_end(key)
            return known
    counted = len(enc.encode(text, disallowed_special=()))
    with _long_counts_lock:
        _long_counts[key] = counted
        while len(_long_counts) > _LONG_COUNTS_KEPT:
            _long_counts.popitem(last=False)
    return counted


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: count the text; images and others by their JSON
        return "".join(p.get("text", "") if p.get("type") == "text" else json.dumps(p) for p in content)
    return "" if content is None else json.dumps(content)


def count_message_tokens(messages: list[dict], model: str | None = None) -> int:
    """Tokens of OpenAI-shaped chat messages (role, content, name, tool_calls), with the chat framing."""
    total = REPLY_PRIMER if messages else 0
    for m in messages:
        total += MESSAGE_OVERHEAD + count_tokens(m.get("role", ""), model)
        total += count_tokens(_content_text(m.get("content")), model)
        if m.get("name"):
            total += 1 + count_tokens(m["name"], model)
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            total += MESSAGE_OVERHEAD + count_tokens(fn.get("name", ""), model)
            total += count_tokens(fn.get("arguments") or "", model)
    return total


def count_tool_tokens(schemas: list[dict], model: str | None = None) -> int:
    """Tokens of tool definitions, either bare function schemas or `{"type": "function", "function": …}`."""
    return sum(TOOL_OVERHEAD + count_tokens(json.dumps(s, separators=(",", ":")), model) for s in schemas or [])
