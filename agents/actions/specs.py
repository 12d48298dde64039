"""Reading the fields of a CreateAgent/UpdateAgent spec: names, prompts, time zones, secrets, compaction and the
model and embedding configs. Each raises Invalid naming the field."""

import re
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from ade.errors import DomainError, Invalid
from ade.secrets import mask
from agents.models import Agent
from agents.runtime.prompts import base_prompt
from agents.runtime.providers import resolve_llm

NAME_RE = re.compile(r"^[\w '\-]+$")


CREATABLE_TYPES = (
    "letta_v1_agent",
    "memgpt_agent",
    "memgpt_v2_agent",
    "react_agent",
    "workflow_agent",
    "sleeptime_agent",
)


COMPACTION_MODES = ("sliding_window", "all", "self_compact_all", "self_compact_sliding_window")


# Fields copied as they are (after a type check) on create and update.
SIMPLE_FIELDS = {
    "description": str,
    "metadata": dict,
    "message_buffer_autoclear": bool,
    "hidden": bool,
    "max_files_open": int,
    "per_file_view_window_char_limit": int,
    "response_format": dict,
    "project_id": str,  # Engram has no projects or templates: the ids are kept so list filters can use them
    "template_id": str,
    "base_template_id": str,
}


def _name(name) -> str:
    if name is None:
        return f"agent-{uuid.uuid4().hex[:8]}"
    if not isinstance(name, str) or not name.strip() or not NAME_RE.match(name):
        raise Invalid(
            "name may only contain letters, digits, spaces, underscores, apostrophes and hyphens", field="name"
        )
    return name.strip()[:200]


def _system(system, agent_type: str) -> str:
    if system is None:
        return base_prompt(agent_type)
    if not isinstance(system, str):
        raise Invalid("system must be a string", field="system")
    return system.strip()


def _timezone(tz) -> str:
    if tz is None:
        return "UTC"
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"timezone must be an IANA time zone name such as Europe/Paris (got {tz!r})", field="timezone"
        ) from None
    return str(tz)


def _secrets(spec: dict) -> dict:
    value = spec.get("secrets") if spec.get("secrets") is not None else spec.get("tool_exec_environment_variables")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Invalid("secrets must be an object of string names to string values", field="secrets")
    return value


def keep_masked(new: dict, old: dict | None) -> dict:
    """Secrets are shown masked (ade.secrets.mask); a masked value sent back unchanged keeps the stored one."""
    old = old or {}
    return {k: old[k] if k in old and v == mask(old[k]) else v for k, v in new.items()}


def _compaction(settings_value, org_id: str | None = None):
    if settings_value is None:
        return None
    if not isinstance(settings_value, dict):
        raise Invalid("compaction_settings must be an object", field="compaction_settings")
    mode = settings_value.get("mode", "sliding_window")
    if mode not in COMPACTION_MODES:
        raise Invalid(
            f"compaction_settings.mode must be one of {', '.join(COMPACTION_MODES)}", field="compaction_settings.mode"
        )
    pct = settings_value.get("sliding_window_percentage", 0.3)
    if not isinstance(pct, (int, float)) or not 0 < pct < 1:
        raise Invalid(
            "compaction_settings.sliding_window_percentage must be between 0 and 1",
            field="compaction_settings.sliding_window_percentage",
        )
    clip = settings_value.get("clip_chars")
    if clip is not None and (not isinstance(clip, int) or isinstance(clip, bool) or clip < 100):
        raise Invalid(
            "compaction_settings.clip_chars must be a whole number of at least 100",
            field="compaction_settings.clip_chars",
        )
    prompt = settings_value.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise Invalid("compaction_settings.prompt must be text", field="compaction_settings.prompt")
    if settings_value.get("model"):
        try:
            resolve_llm(settings_value["model"], org_id=org_id)
        except DomainError as exc:
            raise Invalid(f"compaction_settings.model: {exc.message}", field="compaction_settings.model") from None
    return settings_value


def _apply_simple(agent: Agent, spec: dict) -> None:
    for name, kind in SIMPLE_FIELDS.items():
        if name not in spec or spec[name] is None:
            continue
        value = spec[name]
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 1)):
            raise Invalid(f"{name} must be a {'positive integer' if kind is int else kind.__name__}", field=name)
        setattr(agent, name, value)


def llm_config_from(spec: dict, current: dict | None = None, *, org_id: str | None = None) -> dict:
    """The agent's llm_config from a handle (`model`: the operator's or one of `org_id`'s providers) and/or an
    `llm_config`, plus the shortcut fields."""
    from agents.runtime.providers import TUNABLE, resolve_llm

    given = spec.get("llm_config")
    if given is not None and not isinstance(given, dict):
        raise Invalid("llm_config must be an object", field="llm_config")
    overrides = {k: v for k, v in (given or {}).items() if k in TUNABLE}
    if spec.get("context_window_limit") is not None:
        overrides["context_window"] = spec["context_window_limit"]
    for key in ("max_tokens", "parallel_tool_calls"):
        if spec.get(key) is not None:
            overrides[key] = spec[key]
    overrides.update(model_settings_overrides(spec.get("model_settings")))
    handle = spec.get("model") or (given or {}).get("handle")
    if handle:
        return resolve_llm(handle, overrides, org_id=org_id)
    if given and given.get("model") and given.get("model_endpoint_type"):
        config = {**given, **overrides}
        if not isinstance(config.get("context_window"), int) or config["context_window"] < 1:
            raise Invalid("llm_config.context_window must be a positive integer", field="llm_config.context_window")
        return config
    if current is not None:
        return (
            resolve_llm(current["handle"], {**current, **overrides}, org_id=org_id)
            if current.get("handle")
            else {**current, **overrides}
        )
    return resolve_llm(settings.DEFAULT_MODEL, overrides, org_id=org_id)


# ModelSettings fields (SDK 1.x, one shape per provider_type) -> llm_config keys.
_MODEL_SETTINGS = {
    "temperature": "temperature",
    "max_output_tokens": "max_tokens",
    "parallel_tool_calls": "parallel_tool_calls",
    "strict": "strict",
    "verbosity": "verbosity",
    "effort": "effort",
    "frequency_penalty": "frequency_penalty",
}


def model_settings_overrides(settings_in) -> dict:
    """llm_config overrides from a `model_settings` object (temperature, max_output_tokens, reasoning, thinking…);
    resolve_llm checks their types and ranges. Unknown provider-specific fields are ignored."""
    if settings_in is None:
        return {}
    if not isinstance(settings_in, dict):
        raise Invalid("model_settings must be an object", field="model_settings")
    out = {key: settings_in[name] for name, key in _MODEL_SETTINGS.items() if settings_in.get(name) is not None}
    reasoning = settings_in.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("reasoning_effort"):
        out["reasoning_effort"] = reasoning["reasoning_effort"]
    thinking = settings_in.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type"):
        out["enable_reasoner"] = thinking["type"] == "enabled"
        if thinking.get("budget_tokens") is not None:
            out["max_reasoning_tokens"] = thinking["budget_tokens"]
    return out


def embedding_config_from(spec: dict) -> dict:
    from agents.runtime.providers import resolve_embedding

    given = spec.get("embedding_config")
    if spec.get("embedding"):
        return resolve_embedding(spec["embedding"])
    if isinstance(given, dict) and given.get("embedding_model"):
        return given
    if given is not None and not isinstance(given, dict):
        raise Invalid("embedding_config must be an object", field="embedding_config")
    return resolve_embedding(settings.DEFAULT_EMBEDDING)
