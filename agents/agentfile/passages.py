"""Archival passages in an agent file: Engram's optional `archival_passages` section (letta-api §5 has none, so
Letta drops an agent's archival memory on export). Export writes it only when asked; import stores it in each new
agent's own archive, after the agents exist, embedding with the new agent's embedding model."""

from django.db import transaction

from agents.agentfile.document import AgentFile
from memory.models import Passage

BATCH = 100  # passages embedded and written per transaction


def export_passages(agents, local) -> list[dict]:
    """The passages of each agent's own archive (shared archives are other agents' memory too: left out)."""
    from memory.archives import own_archive_id

    out = []
    for agent in agents:
        archive_id = own_archive_id(agent)
        if archive_id is None:
            continue
        for p in Passage.objects.filter(archive_id=archive_id).order_by("created_at", "id"):
            out.append(
                {
                    "id": local(p.id),
                    "agent_id": local(agent.id),
                    "text": p.text,
                    "tags": p.tags or [],
                    "metadata": p.metadata or {},
                    "created_at": p.created_at.isoformat(),
                }
            )
    return out


def import_passages(user, doc: AgentFile, ids: dict) -> int:
    """Store the file's passages in the new agents' own archives; return how many were stored."""
    from agents.models import Agent
    from memory.archival import default_archive
    from memory.archives import insert_passages

    by_agent: dict[str, list[dict]] = {}
    for p in doc.archival_passages:
        item = {"text": p.text, "tags": p.tags, "metadata": p.metadata or {}}
        if p.created_at:
            item["created_at"] = p.created_at.isoformat()
        by_agent.setdefault(ids[p.agent_id], []).append(item)
    stored = 0
    for agent in Agent.objects.filter(id__in=list(by_agent)):
        with transaction.atomic():
            archive = default_archive(agent)
        items = by_agent[agent.id]
        for start in range(0, len(items), BATCH):
            stored += len(insert_passages(user, archive, items[start : start + BATCH]))
    return stored
