"""The tool code editor's live parts: the schema of the source being typed (with the line of its error), and the
built-in tools opened read-only so people can read what they do."""

import inspect
import json
import re
import textwrap

from django.http import Http404, JsonResponse
from django.views.decorators.http import require_POST

from ade.errors import DomainError
from agents.pages.views.common import agent_view, region
from tools.schema import find_function, generate_schema, parse_source

EDITOR = "agents/partials/tool_editor.html"
LINE = re.compile(r"\bline (\d+)")


@agent_view
@require_POST
def tool_schema(request, agent):
    """{"schema": ...} for the posted source, or {"error": ..., "line": n | null}: what the editor shows live."""
    source = request.POST.get("source_code", "")
    try:
        return JsonResponse({"schema": generate_schema(source)})
    except DomainError as exc:
        return JsonResponse({"error": exc.message, "line": _line_of(exc.message, source)}, status=400)


def _line_of(message: str, source: str) -> int | None:
    """The line an error is about: the one it names, else the function's `def` line when the source parses."""
    named = LINE.search(message)
    if named:
        return int(named.group(1))
    try:
        return find_function(parse_source(source)).lineno
    except DomainError:
        return None


@agent_view
def builtin_tool(request, agent, name: str):
    """A built-in tool's code and schema, read-only."""
    from tools.registry import base_tools

    spec = base_tools().get(name)
    if spec is None:
        raise Http404("No built-in tool by that name")
    source = textwrap.dedent(inspect.getsource(spec.function))
    ctx = {
        "agent": agent,
        "builtin": True,  # not the BaseTool itself: templates call what is callable
        "builtin_name": name,
        "source": source,
        "schema_json": json.dumps(spec.json_schema, indent=2),
    }
    return region(request, EDITOR, "agents/tool_editor.html", ctx)
