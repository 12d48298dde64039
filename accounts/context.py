"""Template context for every page: the user's role in their current organization and what it allows, so pages
show read-only controls instead of buttons that would fail. Lazy: pages that never ask run no query."""

from django.utils.functional import SimpleLazyObject

from .permissions import LEAST_ROLE, allows, role_in


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def memberships():
        from .members import organizations_of

        return list(organizations_of(user))

    return {
        "role": SimpleLazyObject(lambda: role_in(user) or ""),
        "can": SimpleLazyObject(lambda: {action: allows(user, action) for action in LEAST_ROLE}),
        "my_organizations": SimpleLazyObject(memberships),
    }
