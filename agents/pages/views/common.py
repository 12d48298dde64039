"""What every page view shares: the agent access check, redirects that work with and without htmx, and
rendering a region (a partial for htmx, the whole screen otherwise)."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect

from ade.errors import NotFound
from agents.queries import get_agent_for


def agent_view(view):
    """Sign-in required; the agent comes from the one access rule, and another org's agent is a 404."""

    @login_required
    @wraps(view)
    def wrapper(request, agent_id, *args, **kwargs):
        try:
            agent = get_agent_for(request.user, agent_id)
        except NotFound:
            raise Http404("Agent not found") from None
        return view(request, agent, *args, **kwargs)

    return wrapper


def go(request, to, *args, **kwargs):
    """Redirect: a full navigation for htmx requests too (HX-Redirect), so the browser lands on a real URL."""
    target = redirect(to, *args, **kwargs)
    return HttpResponseClientRedirect(target.url) if request.htmx else target


def region(request, partial: str, page: str, context: dict, status: int = 200):
    """The partial when htmx asks for it, else the whole screen that contains it."""
    return render(request, partial if request.htmx else page, context, status=status)
