"""Who may do what in an organization: the one permission check, called by the API, the pages, the websocket
consumer and the Celery tasks (usually through `agents.queries.get_agent_for(..., action=)`).

Actions are coarse on purpose; each route names one:
- `read`:   see anything in the organization (every member, and read-only API keys)
- `chat`:   talk to an agent (editors and up; viewers when the organization allows it)
- `edit`:   create, change and delete agents, blocks, tools, folders, files, identities, archives, imports
- `manage`: members, invitations, other people's API keys, providers, MCP servers, organization settings (admins)
- `own`:    manage admins and owners, delete the organization (owners)

A user with no membership in the organization may do nothing there; callers turn that into a 404 (existence is not
leaked), while a member whose role forbids the action gets Forbidden (403).
"""

from ade.errors import Forbidden, NotFound

from .models import Membership, Role

RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2, Role.OWNER: 3}
LEAST_ROLE = {"read": Role.VIEWER, "chat": Role.EDITOR, "edit": Role.EDITOR, "manage": Role.ADMIN, "own": Role.OWNER}
_CACHE = "_engram_roles"


def role_in(user, org_id: str | None = None) -> str | None:
    """The user's role in `org_id` (default: their current organization), or None. Cached on the user object for
    the request; long-lived holders (websockets) call `forget_roles` before asking again."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    org_id = org_id or user.organization_id
    cache = user.__dict__.setdefault(_CACHE, {})
    if org_id not in cache:
        cache[org_id] = (
            Membership.objects.filter(user_id=user.pk, organization_id=org_id).values_list("role", flat=True).first()
        )
    return cache[org_id]


def remember_role(user, org_id: str, role: str | None) -> None:
    user.__dict__.setdefault(_CACHE, {})[org_id] = role


def touch_membership(user, org_id: str | None = None) -> None:
    """Record activity for the members page ("last activity"), at most once a minute per member."""
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    now = timezone.now()
    stale = Q(last_active_at=None) | Q(last_active_at__lt=now - timedelta(seconds=60))
    Membership.objects.filter(stale, user_id=user.pk, organization_id=org_id or user.organization_id).update(
        last_active_at=now
    )


def forget_roles(user) -> None:
    user.__dict__.pop(_CACHE, None)


def allows(user, action: str, org_id: str | None = None) -> bool:
    """Whether `user` may do `action` in the organization (no exception; for templates and filters)."""
    if action not in LEAST_ROLE:
        raise ValueError(f"unknown action {action!r}")
    role = role_in(user, org_id)
    if role is None:
        return False
    key = getattr(user, "api_key", None)  # set by the API's key authentication
    if action != "read" and key is not None and key.read_only:
        return False
    if RANK[role] >= RANK[LEAST_ROLE[action]]:
        return True
    return action == "chat" and _viewers_can_chat(org_id or user.organization_id)


def check(user, action: str, org_id: str | None = None) -> str:
    """Return the user's role if it allows `action`; NotFound when they are not a member of the organization,
    Forbidden (403) when their role (or a read-only key) forbids the action."""
    role = role_in(user, org_id)
    if role is None:
        raise NotFound("Not found")
    if not allows(user, action, org_id):
        key = getattr(user, "api_key", None)
        if key is not None and key.read_only and action != "read":
            raise Forbidden("This API key is read-only")
        raise Forbidden(f"Your role ({role}) may not {action} here")
    return role


def _viewers_can_chat(org_id: str) -> bool:
    from .models import Organization

    return Organization.objects.filter(id=org_id, viewers_can_chat=True).exists()
