"""Model providers an organization adds itself (Letta's "BYOK" providers): OpenAI, Anthropic, Azure, Groq,
Together, OpenRouter, Ollama, any OpenAI-compatible base URL…

Each provider's models become handles `<provider name>/<model>` that only its organization sees; a config made from
one has `provider_category: "byok"`. The key is encrypted at rest, shown only masked, and sent only to the
provider's own base URL: `call_kwargs` builds a call from the provider row of the agent's organization, never from
the URL a stored config names. Names cannot be those of the operator's providers, so a handle always means one
provider. Network calls (listing models) happen outside the transactions that store what they found.
"""

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from ade import secrets
from ade.errors import Conflict, Forbidden, Invalid, NotFound

from .models import Provider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    label: str
    base_url: str | None  # None: the user gives one
    api: str  # how we list and call it: "openai" (any OpenAI-compatible API), "anthropic", "ollama", "azure"
    needs_key: bool = True


# Letta's provider_type values we can call through litellm; the others (Bedrock, Vertex: cloud credentials rather
# than a key) are refused with the list of these.
KINDS = {
    "openai": Kind("OpenAI or any OpenAI-compatible API", "https://api.openai.com/v1", "openai"),
    "anthropic": Kind("Anthropic", "https://api.anthropic.com/v1", "anthropic"),
    "azure": Kind("Azure OpenAI", None, "azure"),
    "groq": Kind("Groq", "https://api.groq.com/openai/v1", "openai"),
    "together": Kind("Together AI", "https://api.together.xyz/v1", "openai"),
    "openrouter": Kind("OpenRouter", "https://openrouter.ai/api/v1", "openai"),
    "deepseek": Kind("DeepSeek", "https://api.deepseek.com/v1", "openai"),
    "mistral": Kind("Mistral", "https://api.mistral.ai/v1", "openai"),
    "xai": Kind("xAI", "https://api.x.ai/v1", "openai"),
    "fireworks": Kind("Fireworks AI", "https://api.fireworks.ai/inference/v1", "openai"),
    "cerebras": Kind("Cerebras", "https://api.cerebras.ai/v1", "openai"),
    "google_ai": Kind("Google AI (Gemini)", "https://generativelanguage.googleapis.com/v1beta/openai", "openai"),
    "ollama": Kind("Ollama", None, "ollama", needs_key=False),
    "vllm": Kind("vLLM", None, "openai", needs_key=False),
    "lmstudio_openai": Kind("LM Studio", None, "openai", needs_key=False),
    "sglang": Kind("SGLang", None, "openai", needs_key=False),
}
# The operator's provider names (agents/runtime/providers.py): an organization's provider may not take them.
RESERVED = {"engram", "local", "openai", "anthropic", "ollama", "openai-compatible", "letta"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
AZURE_API_VERSION = "2024-10-21"
LIST_TIMEOUT = 10


def providers_for(user):
    return Provider.objects.filter(organization_id=user.organization_id)


def get_provider_for(user, provider_id: str, *, for_update: bool = False) -> Provider:
    qs = providers_for(user).select_for_update() if for_update else providers_for(user)
    provider = qs.filter(id=provider_id).first()
    if provider is None:
        raise NotFound("Provider not found", field="provider_id")
    return provider


# ---------------------------------------------------------------------------------------------------------------
# Writes (organization admins)


def create_provider(user, fields: dict) -> Provider:
    """Add a provider from Letta's ProviderCreate fields (name, provider_type, api_key, base_url, api_version,
    region), then list its models (a provider that cannot be reached is still added, `last_error` saying why)."""
    _may_manage(user)
    name = fields.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise Invalid(
            "name must be 1-60 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it becomes the first part of model handles, e.g. my-groq/llama-3.3-70b)",
            field="name",
        )
    if name.lower() in RESERVED:
        raise Conflict(f"name {name!r} is taken by one of the server's own providers; choose another", field="name")
    provider = Provider(organization_id=user.organization_id, name=name, provider_type=_kind_name(fields))
    provider.created_by = user if getattr(user, "pk", None) else None
    _apply(provider, fields, new=True)
    if providers_for(user).filter(name=name).exists():  # before asking the provider; the constraint still decides
        raise Conflict(f"A provider named {name!r} already exists", field="name")
    _list_into(provider)
    try:
        with transaction.atomic():
            provider.save()
            _audit(user, provider, "create", f"{provider.name} ({provider.provider_type}, {provider.base_url})")
    except IntegrityError as exc:
        raise Conflict(f"A provider named {name!r} already exists", field="name") from exc
    return provider


def update_provider(user, provider_id: str, fields: dict) -> Provider:
    """Letta's ProviderUpdate: a new key (required), and optionally a new base URL, API version or region. A base
    URL changes only with a key, so nobody can point a stored key at another server. A key the provider refuses
    is not stored."""
    _may_manage(user)
    if not isinstance(fields.get("api_key"), str):
        raise Invalid("api_key is required (enter the key again to change a provider)", field="api_key")
    changed = get_provider_for(user, provider_id)
    read_at = changed.updated_at
    _apply(changed, fields, new=False)
    _list_into(changed)
    with transaction.atomic():
        provider = get_provider_for(user, provider_id, for_update=True)
        if provider.updated_at != read_at:  # changed by someone else while its models were listed
            raise Conflict(f"Provider {provider.name} was changed meanwhile; reload it and try again")
        for field in ("api_key", "base_url", "api_version", "region", "listed_models", "last_synced", "last_error"):
            setattr(provider, field, getattr(changed, field))
        provider.save()
        _audit(user, provider, "update", ", ".join(sorted(k for k, v in fields.items() if v is not None)))
    return provider


def _list_into(provider: Provider) -> None:
    """List an unsaved provider's models into it: a key the provider refuses is refused here (field api_key); a
    provider that cannot be reached is kept, `last_error` saying why."""
    try:
        provider.listed_models, provider.last_synced, provider.last_error = list_models(provider), timezone.now(), ""
    except ProviderUnavailable as exc:
        if exc.refused:
            raise Invalid(exc.message, field="api_key") from None
        provider.last_error = exc.message


def delete_provider(user, provider_id: str) -> None:
    """Remove a provider. Agents that use its models keep their config; their next call fails with a clear error
    until the model is changed or a provider of that name is added again."""
    _may_manage(user)
    with transaction.atomic():
        provider = get_provider_for(user, provider_id, for_update=True)
        _audit(user, provider, "delete", provider.name)
        provider.delete()


def refresh_models(user, provider_id: str) -> Provider:
    """Ask the provider for its models now and store the list (kept as it was when the provider cannot be
    reached; `last_error` says why)."""
    provider = get_provider_for(user, provider_id)
    try:
        listed, error = list_models(provider), ""
    except ProviderUnavailable as exc:
        listed, error = None, exc.message
    with transaction.atomic():
        locked = get_provider_for(user, provider.id, for_update=True)
        locked.last_error = error
        if listed is not None:
            locked.listed_models, locked.last_synced = listed, timezone.now()
        locked.save(update_fields=["listed_models", "last_synced", "last_error", "updated_at"])
    return locked


def check(user, fields: dict, provider_id: str | None = None) -> dict:
    """Try a key without storing anything (or a stored provider's): {"message", "models"}; Invalid when the
    provider refuses it or cannot be reached."""
    _may_manage(user)
    if provider_id:
        provider = get_provider_for(user, provider_id)
    else:
        provider = Provider(organization_id=user.organization_id, name="(check)", provider_type=_kind_name(fields))
        _apply(provider, fields, new=True)
    try:
        listed = list_models(provider)
    except ProviderUnavailable as exc:
        raise Invalid(exc.message, field="api_key" if exc.refused else "base_url") from None
    return {
        "message": f"Valid API key for provider_type={provider.provider_type}: {len(listed)} models",
        "models": [m["name"] for m in listed],
    }


def _kind_name(fields: dict) -> str:
    kind = fields.get("provider_type")
    if kind not in KINDS:
        raise Invalid(f"provider_type must be one of {', '.join(KINDS)} (got {kind!r})", field="provider_type")
    return kind


def _apply(provider: Provider, fields: dict, *, new: bool) -> None:
    kind = KINDS[provider.provider_type]
    key = fields.get("api_key")
    if key is not None and (not isinstance(key, str) or len(key) > 4000):
        raise Invalid("api_key must be text of at most 4000 characters", field="api_key")
    for name in ("api_version", "region"):
        value = fields.get(name)
        if value is not None:
            if not isinstance(value, str) or len(value) > 40:
                raise Invalid(f"{name} must be text of at most 40 characters", field=name)
            setattr(provider, name, value.strip())
    base_url = fields.get("base_url")
    if base_url or new:
        provider.base_url = _checked_url(base_url or kind.base_url)
    if key is not None:
        key = key.strip()
        if not key and kind.needs_key:
            raise Invalid(f"api_key is required for {kind.label}", field="api_key")
        provider.api_key = secrets.encrypt(key) if key else ""


def _checked_url(url) -> str:
    if not isinstance(url, str) or not url.strip():
        raise Invalid("base_url is required for this provider type (e.g. http://localhost:11434)", field="base_url")
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if len(url) > 2000 or parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("base_url must be an http(s) URL", field="base_url")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise Invalid("base_url must be a plain URL, without credentials, query or fragment", field="base_url")
    if not _is_default(url):
        from ade.netguard import check_outbound_url

        check_outbound_url(url, field="base_url")
    return url


def _is_default(url: str) -> bool:
    # The public providers' own addresses need no internal-address check (and resolve only at call time here).
    return any(url == k.base_url for k in KINDS.values() if k.base_url)


def _may_manage(user) -> None:
    from accounts.permissions import check as check_role

    check_role(user, "manage")


def _audit(user, provider: Provider, verb: str, summary: str = "") -> None:
    from accounts import audit

    audit.record(provider.organization_id, user, f"provider.{verb}", object_id=provider.id, summary=summary)


# ---------------------------------------------------------------------------------------------------------------
# Talking to the provider


class ProviderUnavailable(Exception):
    def __init__(self, message: str, *, refused: bool = False):
        super().__init__(message)
        self.message, self.refused = message, refused


def _key(provider: Provider) -> str:
    return secrets.decrypt(provider.api_key, f"The key of provider {provider.name}") if provider.api_key else ""


def list_models(provider: Provider) -> list[dict]:
    """[{"name", "context_window"}] the provider offers now. Raises ProviderUnavailable (never with the key)."""
    import httpx

    kind, key = KINDS[provider.provider_type], _key(provider)
    base = provider.base_url
    if kind.api == "anthropic":
        url, headers = base + "/models?limit=1000", {"x-api-key": key, "anthropic-version": "2023-06-01"}
    elif kind.api == "ollama":
        url, headers = base.removesuffix("/v1") + "/api/tags", {}
    elif kind.api == "azure":
        version = provider.api_version or AZURE_API_VERSION
        url, headers = f"{base}/openai/deployments?api-version={version}", {"api-key": key}
    else:
        url, headers = base + "/models", {"Authorization": f"Bearer {key}"} if key else {}
    if not _is_default(base):
        from ade.netguard import check_outbound_url

        try:
            check_outbound_url(base, field="base_url")
        except Invalid as exc:
            raise ProviderUnavailable(exc.message) from None
    try:
        response = httpx.get(url, headers=headers, timeout=LIST_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"could not reach {base}: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise ProviderUnavailable(f"{base} refused the key (HTTP {response.status_code})", refused=True)
    if response.status_code != 200:
        raise ProviderUnavailable(f"{base} answered HTTP {response.status_code} when asked for its models")
    try:
        body = response.json()
        rows = body.get("models") if kind.api == "ollama" else body.get("data")
        listed = [_listed(row) for row in rows or []]
    except (ValueError, AttributeError, TypeError):
        raise ProviderUnavailable(f"{base} did not answer with a model list") from None
    return sorted((m for m in listed if m["name"]), key=lambda m: m["name"])


def _listed(row: dict) -> dict:
    from agents.runtime.llm_configs import ANTHROPIC_MODELS, DEFAULT_CONTEXT_WINDOW, OPENAI_MODELS

    name = str(row.get("id") or row.get("name") or row.get("model") or "")[:200]
    window = row.get("context_length") or row.get("context_window") or row.get("max_model_len")
    if not isinstance(window, int) or window < 1:
        window = OPENAI_MODELS.get(name) or ANTHROPIC_MODELS.get(name) or DEFAULT_CONTEXT_WINDOW
    return {"name": name, "context_window": window}


# ---------------------------------------------------------------------------------------------------------------
# The catalog's side (agents/runtime/providers.py asks here for an organization's models and calls)


def handles(org_id: str | None) -> list[str]:
    """The organization's LLM handles (embedding models are listed by the operator's providers only)."""
    if not org_id:
        return []
    rows = Provider.objects.filter(organization_id=org_id).values_list("name", "listed_models")
    return [f"{name}/{m['name']}" for name, listed in rows for m in listed if "embed" not in m["name"]]


def llm_config(org_id: str | None, name: str, model: str) -> dict | None:
    """The LlmConfig of `<name>/<model>` in the organization, or None when it has no such provider or model. A
    provider that never listed its models (Azure deployments, a server that hides its list) takes any name."""
    provider = Provider.objects.filter(organization_id=org_id, name=name).first() if org_id else None
    if provider is None:
        return None
    if provider.listed_models and model not in {m["name"] for m in provider.listed_models}:
        return None
    return _config(provider, model)


def llm_configs(org_id: str | None) -> list[dict]:
    """The LlmConfig of every model the organization's providers listed (one query)."""
    if not org_id:
        return []
    return [
        _config(p, m["name"])
        for p in Provider.objects.filter(organization_id=org_id)
        for m in p.listed_models
        if "embed" not in m["name"]
    ]


def _config(provider: Provider, model: str) -> dict:
    from agents.runtime.llm_configs import DEFAULT_CONTEXT_WINDOW, provider_config

    windows = {m["name"]: m["context_window"] for m in provider.listed_models}
    endpoint_type = {"lmstudio_openai": "lmstudio"}.get(provider.provider_type, provider.provider_type)
    return provider_config(
        model,
        endpoint_type,
        provider.base_url,
        provider.name,
        windows.get(model, DEFAULT_CONTEXT_WINDOW),
        provider_category="byok",
        max_tokens=8192 if provider.provider_type == "anthropic" else None,
    )


def provider_types(org_id: str | None) -> dict[str, str]:
    """{provider name: provider_type} of the organization's providers."""
    return dict(Provider.objects.filter(organization_id=org_id).values_list("name", "provider_type")) if org_id else {}


def call_kwargs(org_id: str | None, config: dict) -> dict:
    """litellm's `model`, `api_base`, `api_key` (+ `api_version`) for a byok config: from the provider row of
    `org_id` named in the config's handle, whatever endpoint the config itself names."""
    name, _, model = (config.get("handle") or "").partition("/")
    model = config.get("model") or model
    provider = Provider.objects.filter(organization_id=org_id, name=name).first() if org_id and name else None
    if provider is None:
        raise Invalid(
            f"The model provider {name!r} is not configured in this organization: add it on the Model providers "
            "page, or choose another model",
            field="llm_config.provider_name",
        )
    kind = KINDS.get(provider.provider_type)
    if kind is None:
        raise Invalid(f"provider_type {provider.provider_type!r} is not supported", field="llm_config.provider_name")
    if not _is_default(provider.base_url):
        from ade.netguard import check_outbound_url

        check_outbound_url(provider.base_url, field="llm_config.model_endpoint")
    key = _key(provider)
    if kind.api == "anthropic":
        base = None if provider.base_url == kind.base_url else provider.base_url
        return {"model": f"anthropic/{model}", "api_base": base, "api_key": key}
    if kind.api == "ollama":
        return {"model": f"ollama_chat/{model}", "api_base": provider.base_url.removesuffix("/v1"), "api_key": None}
    if kind.api == "azure":
        version = provider.api_version or AZURE_API_VERSION
        return {"model": f"azure/{model}", "api_base": provider.base_url, "api_key": key, "api_version": version}
    return {"model": f"openai/{model}", "api_base": provider.base_url, "api_key": key or "none"}


# ---------------------------------------------------------------------------------------------------------------
# Reading


def render(provider: Provider) -> dict:
    """Letta's Provider shape; the key only masked."""
    from agents.runtime.llm_configs import provider_record

    try:
        key = secrets.mask(_key(provider)) if provider.api_key else None
    except secrets.SecretUnreadable:
        key = "(unreadable: enter it again)"
    return provider_record(
        id=provider.id,
        name=provider.name,
        provider_type=provider.provider_type,
        provider_category="byok",
        api_key=key,
        base_url=provider.base_url,
        region=provider.region or None,
        api_version=provider.api_version or None,
        organization_id=provider.organization_id,
        updated_at=provider.updated_at,
        last_synced=provider.last_synced,
        models=[m["name"] for m in provider.listed_models],
        last_error=provider.last_error or None,
    )


def refuse_operator(provider_id: str) -> None:
    from agents.runtime.llm_configs import OPERATOR_PREFIX

    if provider_id.startswith(OPERATOR_PREFIX):
        raise Forbidden("This provider is set by the operator (environment variables); it cannot be changed here")
