"""The tool-rules editor's form: one rule at a time, with tool pickers instead of JSON (#15 missing 16).

Each rule type asks only for what it needs: the tool it is about, the tools it allows next or requires before
(constrain_child_tools, parent_last_tool), the output-to-tool mapping of a conditional rule, or a count. The rule is
then checked by the same validation as the API's `tool_rules` (agents/runtime/rules.py).
"""

from django import forms

from ade.errors import Invalid
from agents.runtime.rules import validate_rules

TYPE_LABELS = {
    "run_first": "Run first: the turn starts with this tool",
    "exit_loop": "Exit: calling this tool ends the turn",
    "continue_loop": "Continue: after this tool the agent keeps going",
    "constrain_child_tools": "Then only: after this tool, only the chosen tools",
    "conditional": "Branch: the next tool depends on this tool's output",
    "parent_last_tool": "Only after: this tool only right after one of the chosen tools",
    "max_count_per_step": "At most: this many calls per turn",
    "required_before_exit": "Required: must be called before the turn ends",
    "requires_approval": "Approval: a person approves each call",
}
WITH_TOOLS = ("constrain_child_tools", "parent_last_tool")


class RuleForm(forms.Form):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    index = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)  # set: replaces that rule
    type = forms.ChoiceField(choices=list(TYPE_LABELS.items()), label="Rule")
    tool_name = forms.ChoiceField(label="Tool")
    children = forms.MultipleChoiceField(required=False, label="Tools")
    max_count_limit = forms.IntegerField(required=False, min_value=1, label="Most calls per turn")
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Output → next tool",
        help_text="One per line: output = tool",
    )
    default_child = forms.ChoiceField(required=False, label="Otherwise")

    def __init__(self, *args, tools: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.tool_names = tools
        choices = [(t, t) for t in tools]
        self.fields["tool_name"].choices = choices
        self.fields["children"].choices = choices
        self.fields["default_child"].choices = [("", "No default")] + choices

    def clean(self):
        data = super().clean()
        kind = data.get("type")
        if not kind or not data.get("tool_name"):
            return data
        rule = {"type": kind, "tool_name": data["tool_name"]}
        if kind in WITH_TOOLS:
            if not data.get("children"):
                self.add_error("children", "Choose at least one tool.")
            rule["children"] = data.get("children") or []
        if kind == "max_count_per_step":
            if not data.get("max_count_limit"):
                self.add_error("max_count_limit", "Give the most calls per turn (1 or more).")
            rule["max_count_limit"] = data.get("max_count_limit")
        if kind == "conditional":
            rule["child_output_mapping"] = self._mapping(data.get("mapping") or "")
            rule["default_child"] = data.get("default_child") or None
        if self.errors:
            return data
        try:
            data["rule"] = validate_rules([rule])[0]
        except Invalid as exc:
            self.add_error(None, exc.message.replace("tool_rules[0].", ""))
        return data

    def _mapping(self, text: str) -> dict:
        mapping = {}
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            output, sep, tool = line.rpartition("=")
            tool = tool.strip()
            if not sep or not output.strip():
                self.add_error("mapping", f"Line {n}: write it as “output = tool”.")
            elif tool not in self.tool_names:
                self.add_error("mapping", f"Line {n}: {tool!r} is not one of this agent's tools.")
            else:
                mapping[output.strip()] = tool
        if not mapping and "mapping" not in self.errors:
            self.add_error("mapping", "Give at least one line “output = tool”.")
        return mapping


def initial_of(rule: dict) -> dict:
    """The form's initial values for editing `rule`."""
    mapping = "\n".join(f"{k} = {v}" for k, v in (rule.get("child_output_mapping") or {}).items())
    return {**rule, "children": rule.get("children") or [], "mapping": mapping}


def describe(rule: dict) -> str:
    """One line a person reads in the rules list."""
    name, kind = rule["tool_name"], rule["type"]
    tools = ", ".join(rule.get("children") or [])
    return {
        "run_first": f"{name} runs first",
        "exit_loop": f"{name} ends the turn",
        "continue_loop": f"after {name} the agent keeps going",
        "constrain_child_tools": f"after {name}, only {tools}",
        "conditional": f"after {name}: "
        + "; ".join(f"“{k}” → {v}" for k, v in (rule.get("child_output_mapping") or {}).items())
        + (f"; otherwise {rule['default_child']}" if rule.get("default_child") else ""),
        "parent_last_tool": f"{name} only right after {tools}",
        "max_count_per_step": f"{name} at most {rule.get('max_count_limit')}× per turn",
        "required_before_exit": f"{name} must be called before the turn ends",
        "requires_approval": f"{name} needs a person's approval",
    }.get(kind, kind)
