"""The shapes the model catalog hands out (Letta's LlmConfig and Provider) and the context windows of known models:
shared by the operator's providers (agents/runtime/providers.py) and an organization's own (agents/org_providers.py).
"""

DEFAULT_CONTEXT_WINDOW = 128_000
OPERATOR_PREFIX = "provider-operator-"  # the ids the operator's providers are listed under

# Known models of the keyed providers: model → context window.
OPENAI_MODELS = {
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-5": 272_000,
    "gpt-5-mini": 272_000,
    "gpt-5-nano": 272_000,
    "o4-mini": 200_000,
}
ANTHROPIC_MODELS = {"claude-sonnet-4-5": 200_000, "claude-haiku-4-5": 200_000, "claude-opus-4-1": 200_000}


def provider_config(model, endpoint_type, endpoint, provider_name, context_window, **extra) -> dict:
    """A Letta LlmConfig (`extra`: display_name, max_tokens, provider_category, …)."""
    return {
        "model": model,
        "display_name": extra.pop("display_name", None),
        "model_endpoint_type": endpoint_type,
        "model_endpoint": endpoint,
        "provider_name": provider_name,
        "provider_category": "base",
        "model_wrapper": None,
        "context_window": context_window,
        "put_inner_thoughts_in_kwargs": False,
        "handle": f"{provider_name}/{model}",
        "temperature": 0.7,
        "max_tokens": extra.pop("max_tokens", None),
        "enable_reasoner": False,
        "reasoning_effort": None,
        "max_reasoning_tokens": 0,
        "frequency_penalty": None,
        "parallel_tool_calls": False,
        "response_format": None,
        "strict": False,
        **extra,
    }


def provider_record(**fields) -> dict:
    """A Letta `Provider` dict (fields not given are null), plus Engram's `models` and `last_error`."""
    keys = (
        "id", "name", "provider_type", "provider_category", "api_key", "base_url", "access_key", "region",
        "api_version", "organization_id", "updated_at", "last_synced", "api_key_enc", "access_key_enc", "last_error",
    )  # fmt: skip
    return {**dict.fromkeys(keys), "models": [], **fields}
