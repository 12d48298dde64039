"""The scripted model: an OpenAI-compatible server (`engram/scripted`) and its deterministic rules."""


def configured_url() -> str | None:
    """Root URL of a scripted model server set in settings.SCRIPTED_LLM_URL, if any. Asking this loads no server
    code (agents.scripted.server and aiohttp: ~0.3 s of the first message after start-up)."""
    from django.conf import settings

    return settings.SCRIPTED_LLM_URL.rstrip("/").removesuffix("/v1") if settings.SCRIPTED_LLM_URL else None
