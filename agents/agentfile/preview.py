"""What an agent file would do here, before it is imported: which of its agent and folder names are taken, how
many archival passages it carries, and which of its models (LLM and embedding handles) this server lacks. The
import dialog and `POST /v1/agents/import/preview` show it; `model_map` (file handle → handle of this server)
then rewrites the configs on import."""

from ade.errors import DomainError, Invalid
from agents.agentfile.document import AgentFile


def llm_handle(config: dict | None) -> str | None:
    """The handle a file's llm_config names: its `handle`, else provider/model from its endpoint type."""
    config = config or {}
    if config.get("handle"):
        return config["handle"]
    if config.get("model"):
        return f"{config.get('model_endpoint_type') or 'openai'}/{config['model']}"
    return None


def embedding_handle(config: dict | None) -> str | None:
    config = config or {}
    if config.get("handle"):
        return config["handle"]
    if config.get("embedding_model"):
        return f"{config.get('embedding_endpoint_type') or 'openai'}/{config['embedding_model']}"
    return None


def _available(resolve, handle: str, org_id: str | None) -> bool:
    try:
        resolve(handle, org_id=org_id)
        return True
    except DomainError:
        return False


def preview(user, doc: AgentFile) -> dict:
    from agents.queries import agents_for
    from agents.runtime.providers import embedding_handles, llm_handles, resolve_embedding, resolve_llm
    from memory.models import Folder

    agent_names = [a.name for a in doc.agents if a.name]
    taken = set(agents_for(user).filter(name__in=agent_names).values_list("name", flat=True))
    folder_names = [s.name for s in doc.sources]
    folders_taken = set(
        Folder.objects.filter(organization_id=user.organization_id, name__in=folder_names).values_list(
            "name", flat=True
        )
    )
    used: dict[tuple[str, str], list[str]] = {}
    for agent in doc.agents:
        for kind, handle in (
            ("llm", llm_handle(agent.llm_config)),
            ("embedding", embedding_handle(agent.embedding_config)),
        ):
            if handle:
                used.setdefault((kind, handle), []).append(agent.name or agent.id)
    for source in doc.sources:
        handle = embedding_handle(source.embedding_config)
        if handle:
            used.setdefault(("embedding", handle), []).append(f"folder {source.name}")
    resolvers = {"llm": resolve_llm, "embedding": resolve_embedding}
    models = [
        {
            "kind": kind,
            "handle": handle,
            "available": _available(resolvers[kind], handle, user.organization_id),
            "used_by": users,
        }
        for (kind, handle), users in used.items()
    ]
    return {
        "agents": [{"name": a.name, "name_taken": a.name in taken} for a in doc.agents],
        "folders": [{"name": name, "name_taken": name in folders_taken} for name in folder_names],
        "archival_passages": len(doc.archival_passages),
        "messages": sum(len(a.messages) for a in doc.agents),
        "models": models,
        "unknown_models": [m for m in models if not m["available"]],
        "choices": {"llm": llm_handles(user.organization_id), "embedding": embedding_handles()},
    }


def checked_model_map(model_map, org_id: str | None) -> dict[str, str]:
    """`model_map` as given (a dict of file handle → handle here); every target must be a model this server (or
    the organization's own providers) has, as an LLM or an embedding model."""
    from agents.runtime.providers import resolve_embedding, resolve_llm

    if not model_map:
        return {}
    if not isinstance(model_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in model_map.items()
    ):
        raise Invalid(
            'model_map must be a JSON object of handles, e.g. {"openai/gpt-4o": "ollama/llama3"}', field="model_map"
        )
    for source, target in model_map.items():
        if not (_available(resolve_llm, target, org_id) or _available(resolve_embedding, target, org_id)):
            raise Invalid(f"model_map[{source!r}]: {target!r} is not a model of this server", field="model_map")
    return dict(model_map)
