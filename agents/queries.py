"""Access rules: the only place that decides who may see which agent."""

from ade.errors import NotFound
from agents.models import Agent


def agents_for(user):
    """Agents visible to `user`: those of the user's organization."""
    return Agent.objects.filter(organization_id=user.organization_id)


def get_agent_for(user, agent_id: str, *, for_update: bool = False) -> Agent:
    """The agent if `user` may see it, else NotFound (404, never 403: existence is not leaked)."""
    qs = agents_for(user)
    if for_update:
        qs = qs.select_for_update()
    agent = qs.filter(id=agent_id).first()
    if agent is None:
        raise NotFound("Agent not found")
    return agent
