"""Core memory editors: save with optimistic concurrency (a stale save shows both versions), history with
diffs, undo, create/attach/detach. Writes go through memory.actions and agents.actions."""

from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from ade.errors import Conflict, DomainError
from agents.actions import attach_block, detach_block
from agents.pages import panels
from agents.pages.forms import BlockForm, NewBlockForm
from agents.pages.textmerge import merge_texts
from agents.pages.views.common import agent_view, region
from memory.actions import Actor, block_state_at, create_block, undo_block, update_block
from memory.models import Block

BLOCK = "agents/partials/block.html"
MEMORY = "agents/partials/memory.html"


def _attached(agent, block_id) -> Block:
    block = agent.blocks.filter(id=block_id).first()
    if block is None:
        raise Http404("Block not attached to this agent")
    return block


def _render_block(request, agent, block, status=200, *, mine=None, **state):
    editor = panels.block(agent, block, mine=mine, **state)
    if request.htmx:
        return render(request, BLOCK, editor, status=status)
    # Without JavaScript: the whole screen, with this editor in the state the save left it in.
    ctx = panels.workspace(agent, request.user, right="memory")
    ctx["blocks"] = [editor if b["block"].id == block.id else b for b in ctx["blocks"]]
    return render(request, "agents/workspace.html", ctx, status=status)


def _memory(request, agent, status=200, **extra):
    ctx = panels.workspace(agent, request.user, right="memory") if not request.htmx else panels.memory(agent)
    return region(request, MEMORY, "agents/workspace.html", {**ctx, **extra}, status)


@agent_view
def memory_tab(request, agent):
    if request.htmx:
        return render(request, "agents/panels/right.html", panels.right_panel(agent, "memory"))
    return render(request, "agents/workspace.html", panels.workspace(agent, request.user, right="memory"))


@agent_view
def block_get(request, agent, block_id):
    return _render_block(request, agent, _attached(agent, block_id))


def _conflict(request, agent, block, theirs, mine_value, base_version, *, merge=False):
    """Re-render the editor keeping my text, with their version beside it (or both merged)."""
    who = panels.block(agent, theirs)["updated_by"] or "someone"
    conflict = {"theirs": theirs, "who": who, "base_version": base_version, "merged": merge, "clean": True}
    if merge:
        base = block_state_at(theirs, base_version)["value"] if 1 <= base_version <= theirs.version else ""
        mine_value, conflict["clean"] = merge_texts(base or "", mine_value, theirs.value)
    return _render_block(request, agent, theirs, 409, mine=mine_value, conflict=conflict)


@agent_view
@require_POST
def block_save(request, agent, block_id):
    block = _attached(agent, block_id)
    form = BlockForm(request.POST)
    if not form.is_valid():
        error = "; ".join(f"{f}: {' '.join(e)}" for f, e in form.errors.items())
        field = next(iter(form.errors))  # opens the section that holds the field
        return _render_block(request, agent, block, 400, mine=request.POST.get("value"), error=error, error_field=field)
    changes = form.changes(request.POST)
    mine = changes.get("value")
    if request.POST.get("merge"):
        return _conflict(
            request, agent, block, block, mine or "", int(request.POST.get("base_version") or 0), merge=True
        )
    try:
        block = update_block(
            agent.organization,
            block.id,
            changes,
            actor=Actor.user(request.user),
            expected_version=form.cleaned_data["version"],
        )
    except Conflict as exc:
        return _conflict(
            request, agent, block, exc.current, mine if mine is not None else block.value, form.cleaned_data["version"]
        )
    except DomainError as exc:
        # a value over a lowered limit is the limit's problem: show that field, not a collapsed section
        field = "limit" if exc.field == "value" and "limit" in changes else exc.field
        return _render_block(request, agent, block, exc.status, mine=mine, error=exc.message, error_field=field)
    return _render_block(request, agent, block, saved=True)


@agent_view
def block_history(request, agent, block_id):
    block = _attached(agent, block_id)
    return region(request, "agents/partials/history.html", "agents/history.html", panels.history(agent, block))


@agent_view
@require_POST
def block_undo(request, agent, block_id):
    block = _attached(agent, block_id)
    try:
        block = undo_block(
            agent.organization, block.id, int(request.POST.get("version", 0)), actor=Actor.user(request.user)
        )
    except (DomainError, ValueError) as exc:
        return _render_block(request, agent, block, getattr(exc, "status", 400), error=str(exc))
    return _render_block(request, agent, block, saved=True)


@agent_view
@require_POST
def block_create(request, agent):
    form = NewBlockForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():  # a new block is never left unattached
                block = create_block(
                    agent.organization,
                    label=data["label"],
                    value=data["value"],
                    limit=data["limit"],
                    description=data["description"] or None,
                    actor=Actor.user(request.user),
                )
                attach_block(request.user, agent.id, block.id)
        except DomainError as exc:
            return _memory(request, agent, exc.status, new_block_form=form, new_block_error=exc.message)
        return _memory(request, agent)
    return _memory(request, agent, 400, new_block_form=form)


@agent_view
@require_POST
def block_attach(request, agent):
    try:
        attach_block(request.user, agent.id, request.POST.get("block_id", ""))
    except DomainError as exc:
        return _memory(request, agent, exc.status, new_block_error=exc.message)
    return _memory(request, agent)


@agent_view
@require_POST
def block_detach(request, agent, block_id):
    detach_block(request.user, agent.id, _attached(agent, block_id).id)
    return _memory(request, agent)
