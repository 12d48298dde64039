"""The tool-rules editor of the tools panel: add, edit and remove one rule at a time with tool pickers; the
rules are saved through update_agent (like PATCH /v1/agents/{id} with `tool_rules`), with the version read."""

from django.http import Http404
from django.views.decorators.http import require_POST

from ade.errors import Conflict, DomainError
from agents.actions import update_agent
from agents.pages.rules_editor import RuleForm, initial_of
from agents.pages.views.common import agent_view
from agents.pages.views.tools import _panel

STALE = "Someone else changed this agent's rules meanwhile; the list now shows theirs. Make your change again."


def _tools(agent) -> list[str]:
    return list(agent.tools.order_by("agenttool__position", "agenttool__id").values_list("name", flat=True))


@agent_view
def rule_edit(request, agent):
    """The editor filled with rule `?index=` (or empty for a new rule)."""
    rules = agent.tool_rules or []
    index = request.GET.get("index")
    initial = {"version": agent.version}
    if index is not None and index.isdigit() and int(index) < len(rules):
        initial.update(initial_of(rules[int(index)]), index=int(index))
    return _panel(request, agent, rule_form=RuleForm(initial=initial, tools=_tools(agent)), rule_open=True)


@agent_view
@require_POST
def rule_save(request, agent):
    form = RuleForm(request.POST, tools=_tools(agent))
    if not form.is_valid():
        return _panel(request, agent, 400, rule_form=form, rule_open=True)
    rules, index = list(agent.tool_rules or []), form.cleaned_data.get("index")
    if index is None:
        rules.append(form.cleaned_data["rule"])
    elif index < len(rules):
        rules[index] = form.cleaned_data["rule"]
    return _save(request, agent, rules, form.cleaned_data["version"], form=form)


@agent_view
@require_POST
def rule_delete(request, agent, index: str):
    rules = list(agent.tool_rules or [])
    if not index.isdigit() or int(index) >= len(rules):
        raise Http404("No such rule")
    del rules[int(index)]
    version = request.POST.get("version", "")
    return _save(request, agent, rules, int(version) if version.isdigit() else None)


def _save(request, agent, rules, version, form=None):
    try:
        agent = update_agent(request.user, agent.id, {"tool_rules": rules}, expected_version=version)
    except Conflict:
        agent.refresh_from_db()
        return _panel(request, agent, 409, rule_notice=STALE)
    except DomainError as exc:
        if form is None:
            return _panel(request, agent, exc.status, rule_notice=exc.message)
        form.add_error(None, exc.message)
        return _panel(request, agent, exc.status, rule_form=form, rule_open=True)
    return _panel(request, agent, rules_saved=True)
