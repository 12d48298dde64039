"""The model catalog: which LLM and embedding handles are configured, and what a handle resolves to.

A handle is "provider/model". `engram/scripted` (the simulator that ships with Engram) and
`local/all-minilm-l6-v2` (embeddings computed in-process) are always there; the operator's others appear when their
key or base URL is set, and an organization's own providers (agents/org_providers.py) add handles only it sees:
functions that list or resolve handles take the `org_id` whose providers count.

`resolve_llm` / `resolve_embedding` give the Letta LlmConfig / EmbeddingConfig dicts that agents store; `litellm_kwargs` turns a stored config into the arguments of a litellm call, and is the one place that
knows provider URLs and keys (keys are read at call time and never stored in a config).
"""

import logging
import time

from django.conf import settings

from ade.errors import Invalid, NotFound

from .llm_configs import (
    ANTHROPIC_MODELS,
    DEFAULT_CONTEXT_WINDOW,
    OPENAI_MODELS,
    OPERATOR_PREFIX,
    provider_config,
    provider_record,
)

log = logging.getLogger(__name__)

SCRIPTED_HANDLE = "engram/scripted"
SCRIPTED_EMBED_HANDLE = "engram/scripted-embed"
# Models the scripted server plays. `oracle` (agents/scripted/oracle.py) is a perfect memory agent for evals: it
# resolves like any handle but is not listed with the models a person picks for an agent.
SCRIPTED_MODELS = {"scripted": "Scripted model (simulator)", "oracle": "Oracle (eval simulator)"}
ORACLE_HANDLE = "engram/oracle"
LOCAL_EMBED_HANDLE = "local/all-minilm-l6-v2"
SCRIPTED_CONTEXT_WINDOW = 32_000
OPENAI_BASE = "https://api.openai.com/v1"
ANTHROPIC_BASE = "https://api.anthropic.com/v1"

OPENAI_EMBEDDINGS = {"text-embedding-3-small": 1536}

# LlmConfig fields a caller may set on top of what the handle gives (identity fields come from the handle).
TUNABLE = {
    "context_window": int,
    "temperature": float,
    "max_tokens": int,
    "enable_reasoner": bool,
    "reasoning_effort": str,
    "max_reasoning_tokens": int,
    "put_inner_thoughts_in_kwargs": bool,
    "parallel_tool_calls": bool,
    "strict": bool,
    "frequency_penalty": float,
    "verbosity": str,
    "response_format": dict,
    "display_name": str,
    "effort": str,
}
SELF_HOSTED = ("engram", "local")  # providers Engram itself serves: no endpoint to check
_LISTING_TTL = 60
_listing_cache: dict[str, tuple[float, list[str]]] = {}


# ---- configured providers -------------------------------------------------------------------------------------


def _scripted_endpoint(*, start: bool = False) -> str | None:
    from agents.scripted import configured_url

    url = configured_url()
    if url is None:  # ours, in this process: its code loads only now
        from agents.scripted.server import server_url

        url = server_url(start=start)
    return url + "/v1" if url else None


def _remote_models(url: str, path: str, key: str) -> list[str]:
    """Model names a local server lists (Ollama `/api/tags`, OpenAI-compatible `/models`), cached briefly.
    An unreachable server lists nothing rather than failing the page that asked."""
    cached = _listing_cache.get(url + path)
    if cached and time.monotonic() - cached[0] < _LISTING_TTL:
        return cached[1]
    import httpx

    try:
        data = httpx.get(url.rstrip("/") + path, timeout=2, headers={"Authorization": f"Bearer {key}"} if key else {})
        data.raise_for_status()
        body = data.json()
        names = [m.get("name") or m.get("model") for m in body.get("models", [])] or [
            m.get("id") for m in body.get("data", [])
        ]
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("could not list models at %s: %s", url, exc)
        names = []
    names = sorted(n for n in names if n)
    _listing_cache[url + path] = (time.monotonic(), names)
    return names


def _llm(provider: str, model: str) -> dict | None:
    """The LlmConfig of one handle when its provider is configured, else None."""
    if provider == "engram":
        if model not in SCRIPTED_MODELS:
            return None
        return provider_config(
            model,
            "openai",
            _scripted_endpoint(),
            "engram",
            SCRIPTED_CONTEXT_WINDOW,
            display_name=SCRIPTED_MODELS[model],
        )
    if provider == "openai" and settings.OPENAI_API_KEY:
        return provider_config(model, "openai", OPENAI_BASE, "openai", OPENAI_MODELS.get(model, DEFAULT_CONTEXT_WINDOW))
    if provider == "anthropic" and settings.ANTHROPIC_API_KEY:
        return provider_config(
            model, "anthropic", ANTHROPIC_BASE, "anthropic", ANTHROPIC_MODELS.get(model, 200_000), max_tokens=8192
        )
    if provider == "ollama" and settings.OLLAMA_BASE_URL:
        return provider_config(model, "ollama", settings.OLLAMA_BASE_URL, "ollama", DEFAULT_CONTEXT_WINDOW)
    if provider == "openai-compatible" and settings.OPENAI_COMPATIBLE_BASE_URL:
        return provider_config(
            model, "openai", settings.OPENAI_COMPATIBLE_BASE_URL, "openai-compatible", DEFAULT_CONTEXT_WINDOW
        )
    return None


def configured_operator_providers() -> list[tuple[str, str, str | None]]:
    """(name, provider_type, base URL) of the providers the operator configured, Engram's simulator first."""
    rows = [("engram", "openai", None)]
    if settings.OPENAI_API_KEY:
        rows.append(("openai", "openai", OPENAI_BASE))
    if settings.ANTHROPIC_API_KEY:
        rows.append(("anthropic", "anthropic", ANTHROPIC_BASE))
    if settings.OLLAMA_BASE_URL:
        rows.append(("ollama", "ollama", settings.OLLAMA_BASE_URL))
    if settings.OPENAI_COMPATIBLE_BASE_URL:
        rows.append(("openai-compatible", "openai", settings.OPENAI_COMPATIBLE_BASE_URL))
    return rows


def operator_provider_rows() -> list[dict]:
    """The operator's providers in Letta's Provider shape: listed with every organization's, read-only, no key."""
    handles = [h.split("/", 1) for h in llm_handles()]
    return [
        provider_record(
            id=OPERATOR_PREFIX + name,
            name=name,
            provider_type=kind,
            provider_category="base",
            base_url=base_url,
            models=[model for owner, model in handles if owner == name],
        )
        for name, kind, base_url in configured_operator_providers()
    ]


def llm_handles(org_id: str | None = None) -> list[str]:
    """Every LLM handle the organization may pick: the operator's, then its own providers'."""
    from agents import org_providers

    handles = [SCRIPTED_HANDLE]
    if settings.OPENAI_API_KEY:
        handles += [f"openai/{m}" for m in OPENAI_MODELS]
    if settings.ANTHROPIC_API_KEY:
        handles += [f"anthropic/{m}" for m in ANTHROPIC_MODELS]
    if settings.OLLAMA_BASE_URL:
        handles += [
            f"ollama/{m}" for m in _remote_models(settings.OLLAMA_BASE_URL, "/api/tags", "") if "embed" not in m
        ]
    if settings.OPENAI_COMPATIBLE_BASE_URL:
        handles += [
            f"openai-compatible/{m}"
            for m in _remote_models(settings.OPENAI_COMPATIBLE_BASE_URL, "/models", settings.OPENAI_COMPATIBLE_API_KEY)
            if "embed" not in m
        ]
    return handles + org_providers.handles(org_id)


def _embedding(provider: str, model: str) -> dict | None:
    if f"{provider}/{model}" == LOCAL_EMBED_HANDLE:
        return _embed_config("hugging-face", None, model, 384, "local", batch_size=64)
    if f"{provider}/{model}" == SCRIPTED_EMBED_HANDLE:
        return _embed_config("openai", _scripted_endpoint(), model, 384, "engram")
    if provider == "openai" and settings.OPENAI_API_KEY and model in OPENAI_EMBEDDINGS:
        return _embed_config("openai", OPENAI_BASE, model, OPENAI_EMBEDDINGS[model], "openai")
    if provider == "ollama" and settings.OLLAMA_BASE_URL:
        return _embed_config("ollama", settings.OLLAMA_BASE_URL, model, 768, "ollama")
    if provider == "openai-compatible" and settings.OPENAI_COMPATIBLE_BASE_URL:
        return _embed_config("openai", settings.OPENAI_COMPATIBLE_BASE_URL, model, 384, "openai-compatible")
    return None


def _embed_config(endpoint_type, endpoint, model, dim, provider_name, batch_size=32) -> dict:
    return {
        "embedding_endpoint_type": endpoint_type,
        "embedding_endpoint": endpoint,
        "embedding_model": model,
        "embedding_dim": dim,
        "embedding_chunk_size": 300,
        "handle": f"{provider_name}/{model}",
        "batch_size": batch_size,
        "azure_endpoint": None,
        "azure_version": None,
        "azure_deployment": None,
    }


def embedding_handles() -> list[str]:
    handles = [LOCAL_EMBED_HANDLE, SCRIPTED_EMBED_HANDLE]
    if settings.OPENAI_API_KEY:
        handles += [f"openai/{m}" for m in OPENAI_EMBEDDINGS]
    if settings.OLLAMA_BASE_URL:
        handles += [f"ollama/{m}" for m in _remote_models(settings.OLLAMA_BASE_URL, "/api/tags", "") if "embed" in m]
    if settings.OPENAI_COMPATIBLE_BASE_URL:
        handles += [
            f"openai-compatible/{m}"
            for m in _remote_models(settings.OPENAI_COMPATIBLE_BASE_URL, "/models", settings.OPENAI_COMPATIBLE_API_KEY)
            if "embed" in m
        ]
    return handles


# ---- the catalog on the wire (letta-api §4.10) ----------------------------------------------------------------

_PROVIDER_TYPES = {
    "engram": "openai",
    "openai": "openai",
    "anthropic": "anthropic",
    "ollama": "ollama",
    "openai-compatible": "openai",
    "local": "hugging-face",
}


def llm_models(org_id: str | None = None) -> list[dict]:
    """`Model` dicts of every LLM handle the organization may pick."""
    from agents import org_providers

    types = {**_PROVIDER_TYPES, **org_providers.provider_types(org_id)}
    configs = [resolve_llm(h) for h in llm_handles()] + org_providers.llm_configs(org_id)
    out = []
    for cfg in configs:
        out.append(
            {
                **cfg,
                "name": cfg["model"],
                "max_context_window": cfg["context_window"],
                "provider_type": types[cfg["provider_name"]],
                "model_type": "llm",
            }
        )
    return out


def embedding_models() -> list[dict]:
    """`EmbeddingModel` dicts of every configured embedding handle."""
    out = []
    for handle in embedding_handles():
        cfg = resolve_embedding(handle)
        provider = handle.split("/", 1)[0]
        out.append(
            {
                **cfg,
                "name": cfg["embedding_model"],
                "display_name": handle,
                "provider_name": provider,
                "provider_type": _PROVIDER_TYPES[provider],
                "model_type": "embedding",
            }
        )
    return out


# ---- resolving handles ----------------------------------------------------------------------------------------


def _split(handle, field: str) -> tuple[str, str]:
    if not isinstance(handle, str) or "/" not in handle.strip("/"):
        raise Invalid(f"{field} must be a handle of the form provider/model (got {handle!r})", field=field)
    provider, model = handle.split("/", 1)
    return provider, model


def resolve_llm(handle: str, overrides: dict | None = None, *, org_id: str | None = None) -> dict:
    """The LlmConfig for `handle` (an operator's model, or one of `org_id`'s providers), with caller overrides
    (context window, temperature, …) applied and checked.

    Raises Invalid (field "model") for a malformed handle or bad override, NotFound for an unconfigured one."""
    from agents import org_providers

    provider, model = _split(handle, "model")
    config = _llm(provider, model) or org_providers.llm_config(org_id, provider, model)
    if config is None:
        raise NotFound(
            f"Model {handle!r} is not available. Configured models: {', '.join(llm_handles(org_id))}", field="model"
        )
    for key, value in (overrides or {}).items():
        if key in TUNABLE and value is not None:
            config[key] = _checked(key, value)
    return config


def _checked(key: str, value):
    kind = TUNABLE[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Invalid(f"{key} must be of type {kind.__name__} (got {value!r})", field=key)
    if key in ("context_window", "max_tokens") and value < 1:
        raise Invalid(f"{key} must be a positive number (got {value})", field=key)
    return value


def resolve_embedding(handle: str, *, org_id: str | None = None) -> dict:
    """The EmbeddingConfig for `handle`. Invalid (field "embedding") if malformed, NotFound if not configured.
    Embedding models come from the operator's providers only: `org_id` is taken for symmetry with resolve_llm."""
    provider, model = _split(handle, "embedding")
    config = _embedding(provider, model)
    if config is None:
        raise NotFound(
            f"Embedding model {handle!r} is not available. Configured embedding models: "
            f"{', '.join(embedding_handles())}",
            field="embedding",
        )
    return config


def _provider_of(config: dict) -> str:
    """The provider a stored config belongs to: from its handle, else (imported configs) its endpoint type."""
    handle = config.get("handle") or ""
    if "/" in handle:
        return handle.split("/", 1)[0]
    return config.get("model_endpoint_type") or config.get("embedding_endpoint_type") or "openai"


def litellm_kwargs(config: dict, org_id: str | None = None) -> dict:
    """`model`, `api_base`, `api_key` for a litellm call with a stored llm_config or embedding_config, made for
    an agent of `org_id` (whose own providers a "byok" config names).

    The scripted server's address is looked up now (it may have been autostarted on another port since the
    config was stored). Local embeddings (`local/…`) are computed in-process and have no litellm form.

    An operator's key goes only to that provider's own base URL. A config naming another endpoint (set by a
    tenant, or imported) is called without any key, and only if `ade.netguard` lets it through (checked here,
    right before the call, so a host that resolves differently since the config was stored is caught)."""
    if config.get("provider_category") == "byok":
        from agents import org_providers

        return org_providers.call_kwargs(org_id, config)
    embedding = "embedding_model" in config
    model = config.get("embedding_model") if embedding else config.get("model")
    provider = _provider_of(config)
    custom = tenant_endpoint(config)
    if custom:
        from ade.netguard import check_outbound_url

        check_outbound_url(
            custom, field="embedding_config.embedding_endpoint" if embedding else "llm_config.model_endpoint"
        )
    if provider == "engram":
        return {"model": f"openai/{model}", "api_base": _scripted_endpoint(start=True), "api_key": "scripted"}
    if provider == "local":
        raise Invalid(f"{config.get('handle')} is computed in-process, not through litellm", field="embedding")
    if provider == "anthropic":
        return {"model": f"anthropic/{model}", "api_base": None, "api_key": settings.ANTHROPIC_API_KEY}
    if provider == "ollama":
        prefix = "ollama" if embedding else "ollama_chat"
        return {"model": f"{prefix}/{model}", "api_base": custom or settings.OLLAMA_BASE_URL, "api_key": None}
    if custom:
        return {"model": f"openai/{model}", "api_base": custom, "api_key": "none"}
    if provider == "openai-compatible":
        return {
            "model": f"openai/{model}",
            "api_base": settings.OPENAI_COMPATIBLE_BASE_URL,
            "api_key": settings.OPENAI_COMPATIBLE_API_KEY or "none",
        }
    return {"model": f"openai/{model}", "api_base": None, "api_key": settings.OPENAI_API_KEY or "none"}


def tenant_endpoint(config: dict) -> str | None:
    """The endpoint a config names when it is not one the operator configured (None: the provider's own, the
    operator's, or Engram's). Such an endpoint gets no key and must pass `ade.netguard.check_outbound_url`."""
    provider = _provider_of(config)
    stored = config.get("embedding_endpoint" if "embedding_model" in config else "model_endpoint")
    if config.get("provider_category") == "byok":  # called at its provider row's URL, checked there
        return None
    if provider in SELF_HOSTED or provider == "anthropic":
        return None
    if provider == "ollama":
        return None if settings.OLLAMA_BASE_URL else stored or "http://localhost:11434"
    if provider == "openai-compatible" and settings.OPENAI_COMPATIBLE_BASE_URL:
        return None
    if not stored or stored.rstrip("/") == OPENAI_BASE:
        return None
    return stored


def check_endpoints(llm_config: dict | None = None, embedding_config: dict | None = None) -> None:
    """Refuse (Invalid, naming the field) a config whose custom endpoint may not be called, when it is set rather
    than at the first message."""
    from ade.netguard import check_outbound_url

    if llm_config and tenant_endpoint(llm_config):
        check_outbound_url(tenant_endpoint(llm_config), field="llm_config.model_endpoint")
    if embedding_config and tenant_endpoint(embedding_config):
        check_outbound_url(tenant_endpoint(embedding_config), field="embedding_config.embedding_endpoint")
