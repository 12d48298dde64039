"""Websocket guards around the page consumers (wired in `ade/asgi.py`).

- `SameOrigin`: a page's websocket must come from the page's own origin: the Origin header's scheme, host AND port
  equal the request's own (as a browser sends them), or the origin is listed in CSRF_TRUSTED_ORIGINS (a proxy).
  Channels' AllowedHostsOriginValidator compared host names only, so a page on another port of the same host
  (another app on localhost) could open an ADE socket with the user's cookies.
- `NoRoute`: an unknown websocket path is closed cleanly (4404) instead of raising in the router.
- `still_signed_in(scope)`: is the session the socket was opened with still valid now (not logged out, expired,
  password changed, user deactivated)? Consumers ask it before pushing (see agents/pages/consumers.py).
"""

import time
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

CLOSE_NOT_FOUND = 4404
RECHECK_SECONDS = 2.0  # token streams push many times a second: the session is read again at most this often


class SameOrigin:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if allowed_origin(origin, host, secure=scope.get("scheme") in ("wss", "https")):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def allowed_origin(origin: str, host: str, *, secure: bool) -> bool:
    if not origin or origin == "null":
        return False
    if origin.rstrip("/") in [o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS]:
        return True
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    # No Host header (not a browser: test communicators) leaves the origin's host name on the default port.
    domain, port = split_domain_port(host) if host else ((parts.hostname or ""), "")
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    own_scheme = "https" if secure or settings.HTTPS else "http"
    own_port = int(port) if port.isdigit() else (443 if own_scheme == "https" else 80)
    # Behind a TLS proxy the socket arrives as plain ws: trust the origin's scheme when HTTPS is on.
    schemes = {own_scheme, "https"} if settings.HTTPS else {own_scheme}
    return parts.scheme in schemes and (parts.hostname or "") == domain.lower() and origin_port == own_port


class NoRoute(AsyncWebsocketConsumer):
    async def connect(self):
        await self.close(code=CLOSE_NOT_FOUND)


@database_sync_to_async
def _session_user_id(scope):
    """The user a session still authenticates right now, or None (reads the session store again). Again on a new
    connection when this executor thread's was lost (a database restart; a pooled connection the server ended)."""
    from ade.dbretry import retrying

    return retrying(lambda: _read_session_user_id(scope), what="a socket's session check", seconds=10)


def _read_session_user_id(scope):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
    from django.utils.crypto import constant_time_compare
    from django.utils.module_loading import import_string

    session = scope.get("session")
    if session is None or not session.session_key:
        return None
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session.session_key)
    data = store.load()  # {} once logged out or expired
    try:
        user = load_backend(data[BACKEND_SESSION_KEY]).get_user(data[SESSION_KEY])  # None when deactivated
    except (KeyError, ImportError):
        return None
    if user is None or not constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
        return None
    return user.pk


async def still_signed_in(scope) -> bool:
    """True while the session the socket was opened with still authenticates its user. Read again at most every
    RECHECK_SECONDS per socket (the answer is cached in the scope)."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return False
    checked = scope.get("engram_session_checked")
    if checked and time.monotonic() - checked[0] < RECHECK_SECONDS:
        return checked[1]
    ok = await _session_user_id(scope) == user.pk
    scope["engram_session_checked"] = (time.monotonic(), ok)
    return ok
