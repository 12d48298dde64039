"""Tool rules (behaviour spec §4): validation, the per-request solver, and the prompt text.

A rule is a JSON dict with a `type` discriminator. `ToolRulesSolver` is created fresh for every request: its
history is the list of tool names called in this request (each call registered once).
"""

import json

from ade.errors import Invalid

RULE_TYPES = (
    "run_first",
    "exit_loop",
    "continue_loop",
    "constrain_child_tools",
    "conditional",
    "max_count_per_step",
    "parent_last_tool",
    "required_before_exit",
    "requires_approval",
)
# Rules that narrow the allowed set after (or around) their tool.
CHILD_TYPES = ("constrain_child_tools", "conditional", "max_count_per_step")
NON_USER_MSG_PREFIX = "[This is an automated system message hidden from the user] "
RULES_DESCRIPTION = (
    "The following constraints define rules for tool usage and guide desired behavior. These rules must be "
    "followed to ensure proper tool execution and workflow. A single response may contain multiple tool calls."
)


def validate_rules(rules) -> list[dict]:
    """Check rule dicts; return them normalised. Raises Invalid naming the bad field."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise Invalid("tool_rules must be a list", field="tool_rules")
    return [_validate_rule(rule, i) for i, rule in enumerate(rules)]


def _validate_rule(rule, i: int) -> dict:
    where = f"tool_rules[{i}]"
    if not isinstance(rule, dict):
        raise Invalid(f"{where} must be an object", field=where)
    kind = rule.get("type")
    if kind not in RULE_TYPES:
        raise Invalid(f"{where}.type must be one of {', '.join(RULE_TYPES)} (got {kind!r})", field=f"{where}.type")
    name = rule.get("tool_name")
    if not isinstance(name, str) or not name:
        raise Invalid(f"{where}.tool_name is required", field=f"{where}.tool_name")
    out = {"type": kind, "tool_name": name}
    if kind in ("constrain_child_tools", "parent_last_tool"):
        children = rule.get("children")
        if not isinstance(children, list) or not children or not all(isinstance(c, str) and c for c in children):
            raise Invalid(f"{where}.children must be a non-empty list of tool names", field=f"{where}.children")
        out["children"] = children
    if kind == "constrain_child_tools" and rule.get("child_arg_nodes"):
        nodes = rule["child_arg_nodes"]
        for node in nodes:
            if not isinstance(node, dict) or node.get("name") not in out["children"]:
                raise Invalid(
                    f"{where}.child_arg_nodes entries must name one of the children", field=f"{where}.child_arg_nodes"
                )
            if node.get("args") is not None and not isinstance(node["args"], dict):
                raise Invalid(f"{where}.child_arg_nodes args must be an object", field=f"{where}.child_arg_nodes")
        out["child_arg_nodes"] = nodes
    if kind == "conditional":
        mapping = rule.get("child_output_mapping")
        if not isinstance(mapping, dict) or not mapping:
            raise Invalid(
                f"{where}.child_output_mapping must be a non-empty object", field=f"{where}.child_output_mapping"
            )
        out["child_output_mapping"] = {str(k): v for k, v in mapping.items()}
        out["default_child"] = rule.get("default_child")
        out["require_output_mapping"] = bool(rule.get("require_output_mapping", False))
    if kind == "max_count_per_step":
        limit = rule.get("max_count_limit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise Invalid(f"{where}.max_count_limit must be a positive integer", field=f"{where}.max_count_limit")
        out["max_count_limit"] = limit
    if kind == "run_first" and rule.get("args") is not None:
        if not isinstance(rule["args"], dict):
            raise Invalid(f"{where}.args must be an object", field=f"{where}.args")
        out["args"] = rule["args"]
    if rule.get("prompt_template") is not None:
        out["prompt_template"] = rule["prompt_template"]  # accepted, kept for export, not used
    return out


def rule_text(rule: dict) -> str | None:
    """The sentence shown to the model for one rule (None for rules that render nothing)."""
    name, kind = rule["tool_name"], rule["type"]
    if kind == "exit_loop":
        return f"{name} ends your response (yields control) when called"
    if kind == "continue_loop":
        return f"{name} requires continuing your response when called"
    if kind == "constrain_child_tools":
        return f"After using {name}, you must use one of these tools: {', '.join(rule['children'])}"
    if kind == "conditional":
        return f"{name} will determine which tool to use next based on its output"
    if kind == "max_count_per_step":
        return f"{name}: at most {rule['max_count_limit']} use(s) per response"
    if kind == "parent_last_tool":
        return f"{', '.join(rule['children'])} can only be used after {name}"
    return None


_PROMPT_ORDER = (("continue_loop",), CHILD_TYPES, ("parent_last_tool",), ("exit_loop",))


def render_rules_prompt(rules: list[dict]) -> str:
    """The `<tool_usage_rules>` section (with its leading blank line), or "" when no rule renders text."""
    texts = []
    for kinds in _PROMPT_ORDER:
        texts += [rule_text(r) for r in rules if r["type"] in kinds]
    texts = [f"<tool_rule>\n{t}\n</tool_rule>" for t in texts if t]
    if not texts:
        return ""
    return "\n\n<tool_usage_rules>\n" + RULES_DESCRIPTION + "\n\n" + "\n".join(texts) + "\n</tool_usage_rules>"


def _output_matches(output: str, key: str) -> bool:
    """Match a conditional rule key against a tool's return value (bool, number, then plain string)."""
    out = (output or "").strip()
    if key.lower() in ("true", "false"):
        return out.lower() == key.lower()
    try:
        return float(out) == float(key)
    except ValueError:
        return out == key


class ToolRulesSolver:
    """Per-request state: which tools may be called next, and what calling one means for the loop."""

    def __init__(self, rules: list[dict] | None):
        self.rules = list(rules or [])
        self.history: list[str] = []
        self.last_output: str | None = None

    def _of(self, *kinds) -> list[dict]:
        return [r for r in self.rules if r["type"] in kinds]

    def register(self, name: str, output: str | None = None) -> None:
        """Record one executed call (once per call) and its return value."""
        self.history.append(name)
        self.last_output = output

    @property
    def last_tool(self) -> str | None:
        return self.history[-1] if self.history else None

    def allowed(self, available: list[str]) -> list[str]:
        """Tool names that may be called now, in `available` order. [] means "no constraint applies"."""
        init = self._of("run_first")
        if not self.history and init:
            return list(dict.fromkeys(r["tool_name"] for r in init))
        allowed = set(available)
        for rule in self._of(*CHILD_TYPES, "parent_last_tool"):
            allowed &= self._valid_after(rule, set(available))
        return [name for name in available if name in allowed]

    def _valid_after(self, rule: dict, available: set) -> set:
        kind, last = rule["type"], self.last_tool
        if kind == "constrain_child_tools":
            return set(rule["children"]) if last == rule["tool_name"] else available
        if kind == "parent_last_tool":
            return set(rule["children"]) if last == rule["tool_name"] else available - set(rule["children"])
        if kind == "max_count_per_step":
            used = self.history.count(rule["tool_name"])
            return available - {rule["tool_name"]} if used >= rule["max_count_limit"] else available
        # conditional
        if last != rule["tool_name"]:
            return available
        for key, child in rule["child_output_mapping"].items():
            if _output_matches(self.last_output, key):
                return {child}
        if rule.get("require_output_mapping"):
            return set()
        return {rule["default_child"]} if rule.get("default_child") else available

    def should_force_tool_call(self) -> bool:
        """True at the start of a request with run_first rules, or right after a parent of a constraining rule."""
        if not self.history:
            return bool(self._of("run_first"))
        return any(
            r["tool_name"] == self.last_tool
            for r in self._of("constrain_child_tools", "conditional", "parent_last_tool")
        )

    def is_terminal(self, name: str) -> bool:
        return any(r["tool_name"] == name for r in self._of("exit_loop"))

    def is_continue(self, name: str) -> bool:
        return any(r["tool_name"] == name for r in self._of("continue_loop"))

    def is_parent(self, name: str) -> bool:
        return any(r["tool_name"] == name for r in self._of(*CHILD_TYPES))

    def requires_approval(self, name: str) -> bool:
        return any(r["tool_name"] == name for r in self._of("requires_approval"))

    def uncalled_required(self, available: list[str]) -> list[str]:
        """required_before_exit tools that are attached and not yet called in this request."""
        return [
            r["tool_name"]
            for r in self._of("required_before_exit")
            if r["tool_name"] in available and r["tool_name"] not in self.history
        ]

    def has_constraining_rules(self) -> bool:
        """Any rule besides requires_approval (parallel tool calls are only allowed without them)."""
        return any(r["type"] != "requires_approval" for r in self.rules)

    def prefilled_args(self, name: str) -> dict:
        """Arguments the rules fix for a call of `name` now (they override the model's values)."""
        args = {}
        if not self.history:
            for rule in self._of("run_first"):
                if rule["tool_name"] == name and rule.get("args"):
                    args.update(rule["args"])
        for rule in self._of("constrain_child_tools"):
            if rule["tool_name"] == self.last_tool:
                for node in rule.get("child_arg_nodes") or []:
                    if node.get("name") == name and node.get("args"):
                        args.update(node["args"])
        return args

    def violation_text(self, name: str, allowed: list[str]) -> str:
        """The error the model sees when it calls a tool that is not allowed now."""
        text = f"[ToolConstraintError] Cannot call {name}, valid tools include: {allowed}."
        hints = [rule_text(r) for r in self.rules if r["tool_name"] in (name, self.last_tool)]
        hints = [h for h in hints if h]
        if hints:
            text += "\n** Hint: Possible rules that were violated:" + "".join(f"\n\t- {h}" for h in hints)
        return text


def merge_prefilled_args(args: dict, prefilled: dict, schema: dict) -> dict:
    """Apply rule-prefilled args over the model's; refuse names the tool does not take."""
    if not prefilled:
        return args
    params = set(((schema or {}).get("parameters") or {}).get("properties") or {})
    unknown = [k for k in prefilled if k not in params]
    if unknown:
        raise ValueError(f"unknown argument(s) {', '.join(unknown)} for tool {schema.get('name')!r}")
    return {**args, **json.loads(json.dumps(prefilled))}
