"""The role gate of the pages: a signed-in user's write is refused with 403 unless their role in the current
organization allows the route's action (accounts.routes). The API applies the same table in ade.auth."""

from django.http import HttpResponseForbidden

from .permissions import allows, role_in, touch_membership
from .routes import SAFE_METHODS, action_for


class RoleGate:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        user = getattr(request, "user", None)
        if request.path.startswith("/v1/") or user is None or not user.is_authenticated:
            return None  # the API authenticates by key (ade.auth); anonymous pages redirect to sign-in
        action = action_for(request.method, request.path)
        if action is None or request.method in SAFE_METHODS:
            return None
        if not allows(user, action):
            return HttpResponseForbidden(f"Your role ({role_in(user) or 'none'}) may not {action} here.")
        touch_membership(user)
        return None
