from ninja.security import HttpBearer

from accounts.actions import user_for_key


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`: the key's user becomes request.auth."""

    def authenticate(self, request, token):
        user = user_for_key(token)
        if user is not None:
            request.user = user
        return user
