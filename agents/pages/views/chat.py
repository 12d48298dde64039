"""The chat simulator: send a message, approve or deny a tool call, cancel, reset.

A page never waits for a turn. The view records the run (agents.runs.start_turn), submits it (agents.runs.submit:
on workers only the enqueue, embedded off the request thread), and answers at once with the turn's shell; the
turn's events reach every open page of the agent over its websocket (agents/consumers.py)."""

import asyncio
import threading

from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from ade.errors import DomainError, ServiceUnavailable
from agents import runs
from agents.conversations import thread_holding, use_thread
from agents.pages import panels
from agents.pages.forms import MessageForm
from agents.pages.views.common import agent_view, go
from agents.pages.views.conversations import selected
from agents.runtime.turn_input import check_turn_input

STREAM_OPTIONS = {"stream_tokens": True}


def _submit_in_background(run) -> None:
    """Execute (embedded) or enqueue (workers) the turn without holding up the response.

    Under ASGI the turn runs in a worker thread of the server's own event loop (sync_to_async), so that its
    channel-layer sends are scheduled on that loop: the in-memory layer of the embedded default only wakes
    websocket consumers from there. Elsewhere (tests, WSGI) a plain thread does."""

    def work():
        try:
            runs.submit(run)  # records any failure on the run itself
        finally:
            connections.close_all()  # this thread's own connections: it ends here

    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(sync_to_async(work, thread_sensitive=False)(), loop)
    else:
        threading.Thread(target=work, name=f"turn-{run.id}", daemon=True).start()


def _submit(run) -> ServiceUnavailable | None:
    """Submit `run`; the task queue's refusal is returned. On workers only the enqueue happens here, so it is
    answered now: a refused turn is failed at once, and the page could not learn it later (its websocket needs
    Redis too)."""
    if not runs.runs_on_workers():
        _submit_in_background(run)
        return None
    try:
        runs.submit(run)
    except ServiceUnavailable as exc:
        run.refresh_from_db()
        return exc
    return None


def _composer_error(message: str = "") -> str:
    return format_html('<div class="field-error" id="composer-error" role="alert" hx-swap-oob="true">{}</div>', message)


def _start(request, agent, items, conversation=None):
    """Check the input, record the run, start it (in `conversation`, else the agent's own list); the response
    appends the new turn to the chat."""
    try:
        check_turn_input(agent, items)
        run = runs.start_turn(request.user, agent.id, items, options=STREAM_OPTIONS, conversation=conversation)
    except DomainError as exc:
        if not request.htmx:
            return go(request, "agents:workspace", agent.id)
        return render_error(exc)
    refused = _submit(run)
    if not request.htmx:
        return go(request, "agents:workspace", agent.id)
    shell = render_to_string("agents/partials/turn.html", {"agent": agent, "turn": panels.turn(agent, run, [])})
    markup = format_html('<div hx-swap-oob="beforeend:#chat-inner">{}</div>', shell)
    if refused is None:
        return _html(markup + _composer_error())
    # The failed turn is shown and the composer keeps its text (the request did not succeed) to send again.
    response = _html(markup + _composer_error(refused.message), refused.status)
    response["X-Inline-Error"] = "1"
    return response


def render_error(exc: DomainError):
    return _html(_composer_error(exc.message), exc.status)


def _html(markup: str, status: int = 200):
    return HttpResponse(markup, status=status)


@agent_view
@require_POST
def send(request, agent):
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _html(_composer_error("Type a message first."), 400)
    conversation = selected(request, agent, request.POST)
    return _start(request, agent, [{"role": "user", "content": form.cleaned_data["text"]}], conversation)


@agent_view
@require_POST
def approve(request, agent):
    approved = request.POST.get("approve") == "1"
    decision = {
        "type": "approval",
        "approve": approved,
        "approval_request_id": request.POST.get("approval_request_id", ""),
    }
    if not approved and request.POST.get("reason", "").strip():
        decision["reason"] = request.POST["reason"].strip()
    # The conversation waiting on this request (a pushed approval card does not know which one it is in).
    conversation = selected(request, agent, request.POST) or thread_holding(
        agent, decision["approval_request_id"], None
    )
    if conversation is not None:
        use_thread(agent, conversation.id)
    return _start(request, agent, [decision], conversation)


@agent_view
@require_POST
def cancel(request, agent, run_id):
    try:
        runs.cancel(request.user, agent.id, [run_id])
    except DomainError as exc:
        return render_error(exc)
    if not request.htmx:
        return go(request, "agents:workspace", agent.id)
    return _html("")


@agent_view
@require_POST
def reset(request, agent):
    from agents.actions import reset_messages

    reset_messages(request.user, agent.id)
    agent.refresh_from_db()
    if not request.htmx:
        return go(request, "agents:workspace", agent.id)
    return render(request, "agents/partials/chat_log.html", panels.chat(agent))
