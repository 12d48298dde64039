"""Which permission action (accounts.permissions) each HTTP route needs, for the API and the pages alike.

Deny by default: a write that is not listed here needs `edit`, so a new route is never open to viewers by mistake.
Routes that need more (members, audit, settings) also call `check(...)` themselves with the stronger action.
"""

import re

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_AGENT = r"(?:/v1)?/agents/[^/]+"

# Writes that only read (searches, resuming a stream).
READ = re.compile(
    r"^/v1/(tools/search|passages/search|messages/search|runs/[^/]+/stream|conversations/[^/]+/stream)/?$"
)
# Talking to an agent (the simulator), also within a conversation.
CHAT = re.compile(
    rf"^({_AGENT}/(messages(/stream|/async|/cancel)?|approval|runs/[^/]+/cancel)"
    r"|/v1/conversations/[^/]+/(messages|cancel))/?$"
)
# Organization-wide settings and people.
MANAGE = re.compile(r"^(/v1)?/(mcp-servers|tools/mcp|providers|members|invitations|organization)(/|$)")
# Pages every signed-in user may post to, whatever their role (their own account, joining, switching).
PERSONAL = re.compile(r"^/(login|logout|account|orgs|join|admin)/")


def action_for(method: str, path: str) -> str | None:
    """The action a request needs, or None when the route handles access itself (personal pages)."""
    if PERSONAL.match(path):
        return None
    if method in SAFE_METHODS or READ.match(path):
        return "read"
    if CHAT.match(path):
        return "chat"
    if MANAGE.match(path):
        return "manage"
    return "edit"
