"""The registry of base tools: Python functions that run in-process against the database.

A module adds tools with the `@base_tool(tool_type)` decorator and is listed in BASE_TOOL_MODULES.
The JSON schema of each comes from its own signature and docstring (tools/schema.py); the first
parameter, `ctx`, is a ToolContext and is hidden from the model.
"""

import importlib
import inspect
import textwrap
from dataclasses import dataclass
from functools import cached_property

from memory.actions import Actor

from .schema import generate_schema

# Add a module here to register its tools (e.g. "tools.files" for open_files / grep_files / semantic_search_files).
BASE_TOOL_MODULES = ("tools.base", "tools.files", "tools.builtin_web", "tools.multi_agent")

_registry: dict[str, "BaseTool"] = {}


class ToolError(Exception):
    """A tool refusing the call; the model sees the message as the (error) return value."""


@dataclass(frozen=True)
class ToolContext:
    """What a base tool knows about its call."""

    agent: object  # agents.models.Agent
    tool_name: str
    run: object = None
    step_id: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor.agent(self.agent, self.tool_name)


@dataclass(frozen=True)
class BaseTool:
    name: str
    tool_type: str
    function: object

    @cached_property
    def json_schema(self) -> dict:
        source = textwrap.dedent(inspect.getsource(self.function))
        return generate_schema(source, name=self.name, hidden=("ctx",))

    def __call__(self, ctx: ToolContext, **args):
        return self.function(ctx, **args)


def base_tool(tool_type: str):
    """Register the decorated function as a base tool of `tool_type` (letta_core, letta_memory_core, ...)."""

    def register(function):
        _registry[function.__name__] = BaseTool(function.__name__, tool_type, function)
        return function

    return register


def base_tools() -> dict[str, BaseTool]:
    for module in BASE_TOOL_MODULES:
        importlib.import_module(module)
    return _registry
