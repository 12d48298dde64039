"""The chat panel's conversation switcher: new, fork from a message, rename, delete (agents/conversations.py).

The workspace shows one conversation at a time: `?conversation=<id>` (none: the agent's own list). The chat, the
composer and the context viewer then read and write that conversation."""

from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from ade.errors import DomainError, NotFound
from agents import conversations
from agents.pages.views.common import agent_view


def selected(request, agent, params=None):
    """The conversation a page request is about (`conversation` in the query or form), made current on `agent`
    (an in-memory row: its message_ids become the conversation's); None for the agent's own list."""
    conv_id = (params if params is not None else request.GET).get("conversation") or ""
    if not conv_id:
        return None
    try:
        conv = conversations.get_conversation_for(request.user, conv_id)
    except NotFound:
        raise Http404("Conversation not found") from None
    if conv.agent_id != agent.id:
        raise Http404("Conversation not found")
    conversations.use_thread(agent, conv.id)
    return conv


def switcher(request, agent, conv) -> dict:
    """What the chat panel's switcher shows."""
    return {
        "conversation": conv,
        "conversations": list(conversations.list_conversations(request.user, agent_id=agent.id).order_by("created_at")),
    }


def _show(request, agent, conv):
    url = reverse("agents:workspace", args=[agent.id]) + (f"?conversation={conv.id}" if conv else "")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _refused(exc: DomainError):
    return HttpResponse(exc.message, status=exc.status, content_type="text/plain")


@agent_view
@require_POST
def conversation_new(request, agent):
    try:
        conv = conversations.create_conversation(
            request.user, agent.id, summary=request.POST.get("summary", "").strip()[:200] or None
        )
    except DomainError as exc:
        return _refused(exc)
    return _show(request, agent, conv)


@agent_view
@require_POST
def conversation_fork(request, agent):
    """A new conversation from the shown one's context, up to the chosen message (all of it without one)."""
    source = selected(request, agent, request.POST)
    message_id = request.POST.get("message_id") or None
    if message_id:
        source = conversations.thread_holding(agent, message_id, source)
    try:
        conv = conversations.fork_conversation(request.user, agent, source, up_to=message_id)
    except DomainError as exc:
        return _refused(exc)
    return _show(request, agent, conv)


@agent_view
@require_POST
def conversation_rename(request, agent, conversation_id):
    try:
        conv = conversations.update_conversation(
            request.user, conversation_id, {"summary": request.POST.get("summary", "").strip()[:200]}
        )
    except DomainError as exc:
        return _refused(exc)
    return _show(request, agent, conv)


@agent_view
@require_POST
def conversation_delete(request, agent, conversation_id):
    try:
        conversations.delete_conversation(request.user, conversation_id)
    except DomainError as exc:
        return _refused(exc)
    return _show(request, agent, None)
