"""Access rules: the only place that decides who may see which agent and what they may do with it."""

from accounts.permissions import check, role_in
from ade.errors import NotFound
from agents.models import Agent


def agents_for(user):
    """Agents visible to `user`: those of the user's current organization, if they are a member of it."""
    if role_in(user) is None:
        return Agent.objects.none()
    return Agent.objects.filter(organization_id=user.organization_id)


def get_agent_for(user, agent_id: str, *, for_update: bool = False, action: str = "read", loading=None) -> Agent:
    """The agent if `user` may see it, else NotFound (404, never 403: existence is not leaked); then Forbidden (403)
    unless the user's role allows `action` (accounts.permissions: read, chat, edit, manage, own). `loading(qs)` may
    add what the caller reads (prefetches), loaded in the same round."""
    qs = agents_for(user)
    if for_update:
        qs = qs.select_for_update()
    if loading is not None:
        qs = loading(qs)
    agent = qs.filter(id=agent_id).first()
    if agent is None:
        raise NotFound("Agent not found")
    check(user, action, agent.organization_id)
    return agent
