"""Operations of the Letta SDK that only Letta Cloud offers (templates, scheduled messages, environments,
client-side access tokens): answered 404 with a detail that names the operation, so a program learns at once
that this server does not offer it rather than meeting a bare "Not Found"."""

import re

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

_ID = r"[^/]+"
CLOUD_ONLY = [
    ("POST", r"client-side-access-tokens", "access_tokens.create"),
    ("GET", r"client-side-access-tokens", "access_tokens.list"),
    ("DELETE", rf"client-side-access-tokens/{_ID}", "access_tokens.delete"),
    ("GET", r"environments", "environments.list"),
    ("GET", rf"environments/{_ID}", "environments.retrieve"),
    ("POST", rf"environments/{_ID}/messages", "environments.send_message"),
    ("POST", rf"agents/{_ID}/schedule", "agents.schedule.create"),
    ("GET", rf"agents/{_ID}/schedule", "agents.schedule.list"),
    ("GET", rf"agents/{_ID}/schedule/{_ID}", "agents.schedule.retrieve"),
    ("DELETE", rf"agents/{_ID}/schedule/{_ID}", "agents.schedule.delete"),
    ("POST", r"templates", "templates.create"),
    ("PATCH", rf"templates/{_ID}", "templates.update"),
    ("DELETE", rf"templates/{_ID}", "templates.delete"),
    ("POST", rf"templates/{_ID}/rollback", "templates.rollback"),
    ("POST", rf"templates/{_ID}/save", "templates.save"),
    ("POST", rf"templates/{_ID}/agents", "templates.agents.create"),
]
_COMPILED = [(method, re.compile(rf"^/v1/{pattern}/?$"), name) for method, pattern, name in CLOUD_ONLY]
PATH_PREFIXES = r"^v1/(client-side-access-tokens|environments|templates|agents/[^/]+/schedule)(/|$)"


def operation(method: str, path: str) -> str | None:
    """The SDK name of the cloud-only operation `method path`, or None."""
    return next((name for m, regex, name in _COMPILED if m == method and regex.match(path)), None)


@csrf_exempt
def cloud_only(request, *args):
    name = operation(request.method, request.path)
    if name is None:
        return JsonResponse({"detail": f"Not Found: no route {request.method} {request.path}"}, status=404)
    return JsonResponse(
        {"detail": f"{name} is a Letta Cloud operation; this server (Engram, Letta-compatible) does not offer it"},
        status=404,
    )
