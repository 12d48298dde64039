"""Writes to the tool registry (scoped to the user's organization) and running a tool from source.

Custom tool names are unique per organization; a base tool's name is reserved. Base tools (tool_type
`letta_*`) are written by `ensure_base_tools` only and cannot be changed or deleted through these actions.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit
from ade.errors import Conflict, Invalid
from ade.prepared import Prepared

from .models import Tool
from .queries import get_tool_for, tools_for
from .registry import base_tools
from .results import ToolResult, finish
from .sandbox import run_python_tool
from .schema import check_json_schema, find_function, generate_schema, parse_source

DEFAULT_RETURN_CHAR_LIMIT = Tool._meta.get_field("return_char_limit").default
MAX_RETURN_CHAR_LIMIT = 1_000_000
UPDATABLE = (
    "source_code",
    "source_type",
    "description",
    "tags",
    "json_schema",
    "args_json_schema",
    "return_char_limit",
    "pip_requirements",
    "npm_requirements",
    "metadata",
    "default_requires_approval",
    "enable_parallel_execution",
)


# ---------------------------------------------------------------------------------------------------------------
# Base tools


def ensure_base_tools(org) -> dict[str, Tool]:
    """The organization's base tool rows by name, created or refreshed as needed (one query when current).

    The rows are shared with this process's other callers: read them, never change them."""
    specs = base_tools()
    known = _found_current.get(org.id)
    if known is not None and known[0] == sorted(map(tuple, BASE_ROW_VERSIONS.rows(str(org.id)))):
        return known[1]
    base_rows = Tool.objects.filter(organization=org, name__in=list(specs))
    rows = {t.name: t for t in base_rows}
    missing, stale = [], []
    for name, spec in specs.items():
        wanted = {
            "tool_type": spec.tool_type,
            "description": spec.json_schema["description"],
            "json_schema": spec.json_schema,
            "source_type": "python",
            "source_code": None,
        }
        row = rows.get(name)
        if row is None:
            missing.append(Tool(organization=org, name=name, **wanted))
        elif any(getattr(row, f) != v for f, v in wanted.items()):
            for field, value in wanted.items():
                setattr(row, field, value)
            row.updated_at = timezone.now()
            stale.append(row)
    if missing or stale:
        with transaction.atomic():
            # A concurrent caller may have created some rows meanwhile: skip those, then read them all back.
            Tool.objects.bulk_create(missing, ignore_conflicts=True)
            fields = ["tool_type", "description", "json_schema", "source_type", "source_code", "updated_at"]
            Tool.objects.bulk_update(stale, fields)
        rows = {t.name: t for t in base_rows.all()}  # a fresh read
    if len(_found_current) >= 256:
        _found_current.clear()
    _found_current[org.id] = (sorted((t.id, t.updated_at) for t in rows.values()), rows)
    return rows


# Each organization's base tool rows as last found current in this process, with the ids and update times they had
# then. While the rows have the same ones, they are current: a check reads those two columns instead of every
# schema (~1 ms of an agent create). Any change to a row, here or in the admin, moves its updated_at.
_found_current: dict[str, tuple[list, dict[str, Tool]]] = {}
BASE_ROW_VERSIONS = Prepared(  # that check, compiled once per process (0.99 -> 0.21 ms per create)
    lambda org_id: Tool.objects.filter(organization_id=org_id, name__in=list(base_tools())).values_list(
        "id", "updated_at"
    )
)


# ---------------------------------------------------------------------------------------------------------------
# Custom tools


def create_tool(
    user,
    source_code: str,
    *,
    description: str | None = None,
    tags=None,
    return_char_limit: int | None = None,
    pip_requirements=None,
    default_requires_approval: bool = False,
    json_schema: dict | None = None,
    source_type: str = "python",
    args_json_schema: dict | None = None,
    npm_requirements=None,
    enable_parallel_execution: bool = False,
    metadata: dict | None = None,
) -> Tool:
    """A new custom tool; its name is the function's. Conflict (409) if the organization has one by that name."""
    fields = _custom_fields(source_code, json_schema=json_schema, description=description, source_type=source_type)
    fields.update(
        _option_fields(
            tags=tags,
            return_char_limit=return_char_limit,
            pip_requirements=pip_requirements,
            npm_requirements=npm_requirements,
            args_json_schema=args_json_schema,
            metadata=metadata,
        )
    )
    tool = Tool(
        organization_id=user.organization_id,
        tool_type="custom",
        created_by=user,
        last_updated_by=user,
        default_requires_approval=bool(default_requires_approval),
        enable_parallel_execution=bool(enable_parallel_execution),
        **fields,
    )
    if tools_for(user).filter(name=tool.name).exists():
        raise Conflict(f"A tool named {tool.name!r} already exists", field="name")
    try:
        with transaction.atomic():
            tool.save()
            audit.record(tool.organization_id, user, "tool.create", object_id=tool.id, summary=tool.name)
    except IntegrityError:
        raise Conflict(f"A tool named {tool.name!r} already exists", field="name") from None
    return tool


def upsert_tool(user, source_code: str, **options) -> Tool:
    """Create the tool, or update the organization's custom tool of the same name (same id)."""
    name = _schema_for(source_code, options.get("json_schema"))["name"]
    existing = tools_for(user).filter(name=name).first()
    if existing is None:
        try:
            return create_tool(user, source_code, **options)
        except Conflict:  # created concurrently: update that one
            existing = tools_for(user).get(name=name)
    changes = {k: v for k, v in options.items() if v is not None}
    return update_tool(user, existing.id, {**changes, "source_code": source_code})


def update_tool(user, tool_id: str, changes: dict) -> Tool:
    """Apply a partial change. A new source (or schema) regenerates the schema; renaming must not collide."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise Invalid(f"unknown tool field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    with transaction.atomic():
        tool = get_tool_for(user, tool_id, for_update=True)
        _refuse_builtin(tool)
        if {"source_code", "json_schema", "description", "source_type"} & set(changes):
            schema = changes.get("json_schema")
            if schema is None and "source_code" not in changes:
                schema = tool.json_schema  # only the description or source type changed
            fields = _custom_fields(
                changes.get("source_code", tool.source_code),
                json_schema=schema,
                description=changes.get("description"),
                source_type=changes.get("source_type") or tool.source_type,
            )
            if fields["name"] != tool.name and tools_for(user).filter(name=fields["name"]).exists():
                raise Conflict(f"A tool named {fields['name']!r} already exists", field="name")
            for field, value in fields.items():
                setattr(tool, field, value)
        options = {
            k: changes[k]
            for k in (
                "tags",
                "return_char_limit",
                "pip_requirements",
                "npm_requirements",
                "args_json_schema",
                "metadata",
            )
            if changes.get(k) is not None
        }
        for field, value in _option_fields(**options).items():
            setattr(tool, field, value)
        for flag in ("default_requires_approval", "enable_parallel_execution"):
            if changes.get(flag) is not None:
                setattr(tool, flag, bool(changes[flag]))
        tool.last_updated_by = user
        tool.save()
        audit.record(
            tool.organization_id,
            user,
            "tool.update",
            object_id=tool.id,
            summary=f"{tool.name}: {', '.join(sorted(changes))}",
        )
    return tool


def delete_tool(user, tool_id: str) -> None:
    with transaction.atomic():
        tool = get_tool_for(user, tool_id, for_update=True)
        _refuse_builtin(tool)
        audit.record(tool.organization_id, user, "tool.delete", object_id=tool.id, summary=tool.name)
        tool.delete()


def run_tool_from_source(
    user,
    source_code: str,
    args: dict,
    *,
    env: dict | None = None,
    name: str | None = None,
    timeout: float | None = None,
) -> ToolResult:
    """Run unsaved source in the sandbox (the run form and POST /v1/tools/run). Bad source is Invalid (400)."""
    from .executor import argument_problem

    schema = generate_schema(source_code, name=name)
    if not isinstance(args, dict):
        raise Invalid("args must be an object of argument names to values", field="args")
    problem = argument_problem(schema, args)
    if problem:
        raise Invalid(problem, field="args")
    result = run_python_tool(source_code, schema["name"], args, env=env, timeout=timeout)
    return finish(result, DEFAULT_RETURN_CHAR_LIMIT)


# ---------------------------------------------------------------------------------------------------------------
# Field checks


def _refuse_builtin(tool: Tool) -> None:
    if tool.tool_type != "custom":
        raise Invalid(
            f"{tool.name} is a built-in tool ({tool.tool_type}) and cannot be changed or deleted", field="tool_type"
        )


def _schema_for(source_code: str, json_schema: dict | None) -> dict:
    if json_schema is None:
        return generate_schema(source_code)
    schema = check_json_schema(json_schema)
    find_function(parse_source(source_code), schema["name"])  # the source must define what the schema names
    return schema


def _custom_fields(source_code, *, json_schema, description, source_type) -> dict:
    if source_type != "python":
        raise Invalid("source_type: only python tools can run on this server", field="source_type")
    if not isinstance(source_code, str):
        raise Invalid("source_code must be a string", field="source_code")
    schema = _schema_for(source_code, json_schema)
    if schema["name"] in base_tools():
        raise Invalid(
            f"{schema['name']} is the name of a built-in tool; give the function another name", field="source_code"
        )
    if description is not None:
        if not isinstance(description, str):
            raise Invalid("description must be a string", field="description")
        schema = {**schema, "description": description}
    return {
        "name": schema["name"],
        "description": schema["description"],
        "json_schema": schema,
        "source_code": source_code,
        "source_type": "python",
    }


def _option_fields(
    *,
    tags=None,
    return_char_limit=None,
    pip_requirements=None,
    npm_requirements=None,
    args_json_schema=None,
    metadata=None,
) -> dict:
    fields = {}
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise Invalid("tags must be a list of strings", field="tags")
        fields["tags"] = tags
    if return_char_limit is not None:
        if (
            isinstance(return_char_limit, bool)
            or not isinstance(return_char_limit, int)
            or not (1 <= return_char_limit <= MAX_RETURN_CHAR_LIMIT)
        ):
            raise Invalid(f"return_char_limit must be between 1 and {MAX_RETURN_CHAR_LIMIT}", field="return_char_limit")
        fields["return_char_limit"] = return_char_limit
    for name, value in (("pip_requirements", pip_requirements), ("npm_requirements", npm_requirements)):
        if value is not None:
            fields[name] = _requirements(name, value)
    for name, value in (("args_json_schema", args_json_schema), ("metadata", metadata)):
        if value is not None:
            if not isinstance(value, dict):
                raise Invalid(f"{name} must be an object", field=name)
            fields[name] = value
    return fields


def _requirements(field: str, value) -> list[dict]:
    """[{name, version?}]. Recorded only: the sandbox runs with the server's packages and installs nothing."""
    if not isinstance(value, list):
        raise Invalid(f"{field} must be a list of {{name, version}}", field=field)
    out = []
    for item in value:
        item = item.model_dump() if hasattr(item, "model_dump") else item
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise Invalid(f"{field}: each entry needs a name", field=field)
        out.append({"name": item["name"].strip(), "version": item.get("version")})
    return out
