"""Access rules: the only place that decides who may see which agent and what they may do with it."""

from accounts.permissions import check, role_in
from ade.errors import NotFound
from ade.pagination import ordering
from ade.prepared import Prepared, PreparedByShape, attnames
from agents.models import Agent, Message, Run
from tools.models import Tool


def agents_for(user):
    """Agents visible to `user`: those of the user's current organization, if they are a member of it."""
    if role_in(user) is None:
        return Agent.objects.none()
    return Agent.objects.filter(organization_id=user.organization_id)


def get_agent_for(user, agent_id: str, *, for_update: bool = False, action: str = "read") -> Agent:
    """The agent if `user` may see it, else NotFound (404, never 403: existence is not leaked); then Forbidden (403)
    unless the user's role allows `action` (accounts.permissions: read, chat, edit, manage, own)."""
    if for_update:
        agent = agents_for(user).select_for_update().filter(id=agent_id).first()
    else:  # every agent route and turn reads it: compiled once per process
        found = [] if role_in(user) is None else AGENT_IN_ORG.objects(Agent, user.organization_id, str(agent_id))
        agent = found[0] if found else None
    if agent is None:
        raise NotFound("Agent not found")
    check(user, action, agent.organization_id)
    return agent


def agent_row(agent_id: str) -> Agent | None:
    """The agent by id, with no access check (a turn already checked when it was sent)."""
    found = AGENT_BY_ID.objects(Agent, agent_id)
    return found[0] if found else None


def agent_tools(agent_id: str) -> list[Tool]:
    """The agent's attached tools in their order."""
    return AGENT_TOOLS.objects(Tool, agent_id)


def message_row(message_id: str) -> Message | None:
    """The message by id, with no access check (the caller has its agent already)."""
    found = MESSAGE_BY_ID.objects(Message, message_id)
    return found[0] if found else None


def messages_by_id(ids: list[str]) -> list[Message]:
    """The messages with these ids, in no particular order. A turn reads a few (the system message and what the
    last turn wrote): compiled once per process for each count up to 8, and for batches of 256."""
    if not ids:
        return []
    if len(ids) <= 8:
        return MESSAGES_BY_COUNT[len(ids)].objects(Message, *map(str, ids))
    # A long context (a turn's first read of it reads it whole): batches of one compiled shape, the last padded
    # with its own last id (which matches its row once). 3,059 ids, best of 5: Django's `id__in` 102 ms, this 73.
    found = []
    for start in range(0, len(ids), _ID_BATCH):
        batch = [str(i) for i in ids[start : start + _ID_BATCH]]
        found += MESSAGES_BY_COUNT[_ID_BATCH].objects(Message, *batch, *batch[-1:] * (_ID_BATCH - len(batch)))
    return found


def run_row(run_id: str) -> Run | None:
    """The run by id, with no access check."""
    found = RUN_BY_ID.objects(Run, run_id)
    return found[0] if found else None


def message_page(agent_id: str, key: str, ascending: bool, limit: int) -> list[Message]:
    """The agent's first `limit` messages by `key` (ade.pagination's order): a page without cursors, the usual one."""
    return MESSAGE_PAGES[(key, ascending, limit)].instances(str(agent_id))


def cancel_requested(run_id: str) -> bool:
    """Whether someone asked to cancel the run (read before each step of its turn)."""
    return bool(CANCEL_REQUESTED.rows(run_id))


# The reads every request or turn makes, compiled once per process (ade/prepared.py). No ORDER BY where an id picks
# the row: the models' default ordering made SQLite sort the one row it found.
AGENT_FIELDS = attnames(Agent)
AGENT_IN_ORG = Prepared(
    lambda org, agent_id: Agent.objects.filter(organization_id=org, id=agent_id).order_by()[:1], fields=AGENT_FIELDS
)
AGENT_BY_ID = Prepared(lambda agent_id: Agent.objects.filter(id=agent_id).order_by()[:1], fields=AGENT_FIELDS)
AGENT_TOOLS = Prepared(
    lambda agent_id: Tool.objects.filter(agenttool__agent_id=agent_id).order_by("agenttool__position", "agenttool__id"),
    fields=attnames(Tool),
)
MESSAGE_FIELDS = attnames(Message)
MESSAGE_BY_ID = Prepared(lambda message_id: Message.objects.filter(id=message_id).order_by()[:1], fields=MESSAGE_FIELDS)
_ID_BATCH = 256
MESSAGES_BY_COUNT = PreparedByShape(
    lambda count, *ids: Message.objects.filter(id__in=list(ids)).order_by(), fields=MESSAGE_FIELDS
)
RUN_BY_ID = Prepared(lambda run_id: Run.objects.filter(id=run_id).order_by()[:1], fields=attnames(Run))
MESSAGE_PAGES = PreparedByShape(
    lambda shape, agent: Message.objects.filter(agent_id=agent).order_by(*ordering(*shape[:2]))[: shape[2]]
)
CANCEL_REQUESTED = Prepared(
    lambda run_id: Run.objects.filter(id=run_id, cancel_requested=True).order_by().values_list("id")[:1]
)
