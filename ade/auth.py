from axes.backends import AxesStandaloneBackend
from ninja.security import HttpBearer

from accounts.actions import user_for_key
from accounts.permissions import check
from accounts.routes import action_for


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`: the key's user becomes request.auth, acting in the key's organization; the
    route's action (accounts.routes) must be allowed by their role there and the key (403 otherwise)."""

    def authenticate(self, request, token):
        user = user_for_key(token)
        if user is not None:
            request.user = user
            check(user, action_for(request.method, request.path) or "read")
        return user


class LoginThrottle(AxesStandaloneBackend):
    """django-axes on every password login made from a request (`/login/`, `/admin/login/`): after
    AXES_FAILURE_LIMIT failures for one user name from one address, logins are refused for AXES_COOLOFF_TIME.
    Logins without a request (the shell, test clients) are not throttled."""

    def authenticate(self, request, *args, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
