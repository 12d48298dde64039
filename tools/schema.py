"""JSON schema (OpenAI function format) from a Python function's source: signature + Google-style docstring.

The source is parsed with `ast`, never executed: user code must not run inside the server.
"""

import ast
import re
import textwrap

from ade.errors import Invalid

MAX_TOOL_NAME_LENGTH = 48
HIDDEN_PARAMETERS = ("self", "agent_state")

_SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_ARRAYS = {"list", "List", "Sequence", "tuple", "Tuple", "set", "Set"}
_OBJECTS = {"dict", "Dict", "Mapping"}
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Examples?|Notes?|Note):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def parse_source(source_code: str) -> ast.Module:
    if not (source_code or "").strip():
        raise Invalid("source_code must not be empty", field="source_code")
    try:
        return ast.parse(textwrap.dedent(source_code))
    except SyntaxError as exc:
        raise Invalid(f"source_code has a syntax error on line {exc.lineno}: {exc.msg}", field="source_code") from None


def find_function(module: ast.Module, name: str | None = None) -> ast.FunctionDef:
    """The tool function: the one named `name`, else the last top-level function (helpers may precede it)."""
    functions = [n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if name:
        functions = [f for f in functions if f.name == name]
        if not functions:
            raise Invalid(f"source_code defines no top-level function named {name!r}", field="source_code")
    if not functions:
        raise Invalid("source_code must define a top-level function (def name(...): ...)", field="source_code")
    return functions[-1]


def generate_schema(source_code: str, *, name: str | None = None, hidden=HIDDEN_PARAMETERS) -> dict:
    """{"name", "description", "parameters": {"type": "object", "properties", "required"}} for the tool function."""
    func = find_function(parse_source(source_code), name)
    return function_schema(func, hidden=hidden)


def function_schema(func: ast.FunctionDef, *, hidden=HIDDEN_PARAMETERS) -> dict:
    if len(func.name) > MAX_TOOL_NAME_LENGTH:
        raise Invalid(f"tool name {func.name!r} is longer than {MAX_TOOL_NAME_LENGTH} characters", field="name")
    summary, arg_docs = parse_docstring(ast.get_docstring(func) or "")
    properties, required = {}, []
    for arg, default in _arguments_with_defaults(func.args):
        if arg.arg in hidden:
            continue
        prop, optional = annotation_schema(arg.annotation, where=f"parameter {arg.arg!r}")
        if arg_docs.get(arg.arg):
            prop["description"] = arg_docs[arg.arg]
        properties[arg.arg] = prop
        if default is None and not optional:
            required.append(arg.arg)
    return {
        "name": func.name,
        "description": summary,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def _arguments_with_defaults(args: ast.arguments):
    """(arg, default node or None) for positional and keyword-only parameters; *args/**kwargs are not exposed."""
    positional = args.posonlyargs + args.args
    padded = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    yield from zip(positional, padded, strict=True)
    yield from zip(args.kwonlyargs, args.kw_defaults, strict=True)


def annotation_schema(node, *, where: str) -> tuple[dict, bool]:
    """(JSON schema, is Optional) for a type annotation node."""
    if node is None:
        raise Invalid(
            f"{where} needs a type annotation (str, int, float, bool, list[...], dict, ...)", field="source_code"
        )
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted (forward) annotation
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            raise Invalid(f"{where} has an unreadable annotation {node.value!r}", field="source_code") from None
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}, True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        return _union([node.left, node.right], where)
    name = _dotted_name(node.value if isinstance(node, ast.Subscript) else node)
    if isinstance(node, ast.Subscript):
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return _generic(name, items, where)
    if name in _SCALARS:
        return {"type": _SCALARS[name]}, False
    if name in _ARRAYS:
        return {"type": "array"}, False
    if name in _OBJECTS:
        return {"type": "object"}, False
    if name == "Any":
        return {}, False
    raise Invalid(f"{where} has an unsupported type {ast.unparse(node)!r}", field="source_code")


def _generic(name: str, items: list, where: str) -> tuple[dict, bool]:
    if name == "Optional":
        schema, _ = annotation_schema(items[0], where=where)
        return schema, True
    if name == "Union":
        return _union(items, where)
    if name == "Literal":
        values = [i.value for i in items if isinstance(i, ast.Constant)]
        if len(values) != len(items):
            raise Invalid(f"{where}: Literal[...] may only hold constants", field="source_code")
        kinds = {type(v) for v in values}
        schema = {"type": _SCALARS.get(kinds.pop().__name__, "string")} if len(kinds) == 1 else {}
        return {**schema, "enum": values}, False
    if name in _ARRAYS:
        item_schema, _ = annotation_schema(items[0], where=where)
        return {"type": "array", "items": item_schema}, False
    if name in _OBJECTS:
        return {"type": "object"}, False
    if name == "Annotated":
        return annotation_schema(items[0], where=where)
    raise Invalid(f"{where} has an unsupported type {name}[...]", field="source_code")


def _union(members: list, where: str) -> tuple[dict, bool]:
    non_null = [
        m for m in members if not (isinstance(m, ast.Constant) and m.value is None) and _dotted_name(m) != "None"
    ]
    optional = len(non_null) < len(members)
    schemas = [annotation_schema(m, where=where)[0] for m in non_null]
    if len(schemas) == 1:
        return schemas[0], optional
    return {"anyOf": schemas}, optional


def _dotted_name(node) -> str:
    """`List` for `List` and `typing.List`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return ast.unparse(node)


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(summary, {arg: description}) from a Google-style docstring. Missing descriptions are fine."""
    summary, args = [], {}
    section, current, args_indent = None, None, 0
    for raw in doc.splitlines():
        line = raw.strip()
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1), None
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters", "Params") and line:
            match = _ARG_LINE.match(line)
            indent = len(raw) - len(raw.lstrip())
            if match and (current is None or indent <= args_indent):
                current, args_indent = match.group(1).lstrip("*"), indent
                args[current] = match.group(3).strip()
            elif current:
                args[current] = f"{args[current]} {line}".strip()
    return " ".join(" ".join(summary).split()), args


def check_json_schema(schema) -> dict:
    """A caller-supplied schema in OpenAI function format, checked enough that the model and loop can use it."""
    if not isinstance(schema, dict):
        raise Invalid("json_schema must be an object", field="json_schema")
    name = schema.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise Invalid("json_schema.name must be a Python identifier (the function's name)", field="json_schema")
    if len(name) > MAX_TOOL_NAME_LENGTH:
        raise Invalid(f"tool name {name!r} is longer than {MAX_TOOL_NAME_LENGTH} characters", field="json_schema")
    params = schema.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(params, dict) or params.get("type", "object") != "object":
        raise Invalid('json_schema.parameters must be an object schema ({"type": "object", ...})', field="json_schema")
    properties = params.get("properties", {})
    required = params.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        raise Invalid("json_schema.parameters needs properties (an object) and required (a list)", field="json_schema")
    unknown = [r for r in required if r not in properties]
    if unknown:
        raise Invalid(
            f"json_schema requires undefined parameter(s): {', '.join(map(str, unknown))}", field="json_schema"
        )
    description = schema.get("description", "")
    if not isinstance(description, str):
        raise Invalid("json_schema.description must be a string", field="json_schema")
    return {
        "name": name,
        "description": description,
        "parameters": {**params, "type": "object", "properties": properties, "required": required},
    }
