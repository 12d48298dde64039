"""The agent's secrets (environment variables its custom tools run with) in the tools panel: set or replace one,
remove one. Values are shown masked, stored encrypted (ade.secrets), and saved through update_agent like
PATCH /v1/agents/{id} with `secrets`, with the version read."""

import re

from django.views.decorators.http import require_POST

from ade.errors import Conflict, DomainError
from agents.actions import update_agent
from agents.pages.views.common import agent_view
from agents.pages.views.tools import _panel

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


@agent_view
@require_POST
def secret_set(request, agent):
    name, value = request.POST.get("name", "").strip(), request.POST.get("value", "")
    if not NAME.match(name):
        error = "Name: letters, digits and _, not starting with a digit (like API_TOKEN)."
        return _panel(request, agent, 400, secret_error=error, secret_name=name)
    if not value:
        error = "Value: enter the secret's value."
        return _panel(request, agent, 400, secret_error=error, secret_name=name)
    return _save(request, agent, {**(agent.secrets or {}), name: value})


@agent_view
@require_POST
def secret_delete(request, agent, name: str):
    return _save(request, agent, {k: v for k, v in (agent.secrets or {}).items() if k != name})


def _save(request, agent, secrets: dict):
    version = request.POST.get("version", "")
    try:
        update_agent(
            request.user, agent.id, {"secrets": secrets}, expected_version=int(version) if version.isdigit() else None
        )
    except Conflict:
        agent.refresh_from_db()
        error = "Someone else changed this agent meanwhile; the list now shows their version. Try again."
        return _panel(request, agent, 409, secret_error=error)
    except DomainError as exc:
        return _panel(request, agent, exc.status, secret_error=exc.message)
    agent.refresh_from_db()
    return _panel(request, agent, secret_saved=True)
