"""Page forms: they parse and validate input; the views hand the cleaned data to domain functions."""

import json
import re

from django import forms
from django.conf import settings

from agents.pages.templates_catalog import BY_KEY
from memory.summarize import CLIP_CHARS, SLIDING_PERCENTAGE

SORT_CHOICES = [("-created", "Newest first"), ("name", "Name A–Z"), ("-updated", "Recently changed")]


class AgentFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    tag = forms.CharField(required=False, max_length=200)
    identity = forms.CharField(required=False, max_length=64)
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)


class AgentCreateForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    template = forms.ChoiceField(
        choices=[("", "Blank agent")] + [(k, t.name) for k, t in BY_KEY.items()], required=False
    )
    agent_type = forms.ChoiceField(
        required=False,
        choices=[
            (t, t) for t in ("letta_v1_agent", "memgpt_v2_agent", "memgpt_agent", "react_agent", "workflow_agent")
        ],
    )

    def template_obj(self):
        return BY_KEY.get(self.cleaned_data.get("template") or "")


class ImportForm(forms.Form):
    file = forms.FileField(help_text="An agent file (.af) exported from Engram or Letta.")
    keep_names = forms.BooleanField(required=False, initial=True, label="Keep the file's names where they are free")
    model = forms.ChoiceField(required=False)
    embedding = forms.ChoiceField(required=False)

    def __init__(self, *args, org_id: str, **kwargs):
        from agents.runtime.providers import embedding_handles, llm_handles

        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "The file's model")] + [(h, h) for h in llm_handles(org_id)]
        self.fields["embedding"].choices = [("", "The file's embedding model")] + [(h, h) for h in embedding_handles()]

    def clean_file(self):
        """The raw bytes; agents.agentfile checks the document itself and names what is wrong."""
        upload = self.cleaned_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        return upload.read()


class BlockForm(forms.Form):
    """One core-memory block editor. Only the fields present in the POST are changed."""

    version = forms.IntegerField(min_value=1)
    value = forms.CharField(required=False, strip=False, widget=forms.Textarea)
    label = forms.CharField(required=False, max_length=200)
    description = forms.CharField(required=False, strip=False)
    limit = forms.IntegerField(required=False, min_value=1)
    read_only = forms.BooleanField(required=False)

    def changes(self, data) -> dict:
        """The submitted fields as a changes dict for memory.actions.update_block."""
        cleaned = self.cleaned_data
        changes = {f: cleaned[f] for f in ("value", "description") if f in data}
        if data.get("label", "").strip():
            changes["label"] = cleaned["label"].strip()
        if cleaned.get("limit"):
            changes["limit"] = cleaned["limit"]
        if "read_only_present" in data:  # a checkbox sends nothing when unticked
            changes["read_only"] = cleaned["read_only"]
        return changes


class NewBlockForm(forms.Form):
    label = forms.SlugField(max_length=200, help_text="Letters, digits, _ and -; e.g. “project”.")
    description = forms.CharField(required=False, max_length=2000)
    value = forms.CharField(required=False, strip=False, widget=forms.Textarea)
    limit = forms.IntegerField(required=False, min_value=1, initial=5000)


class MessageForm(forms.Form):
    text = forms.CharField(strip=True, max_length=100_000)


class PassageForm(forms.Form):
    text = forms.CharField(strip=True, widget=forms.Textarea, max_length=100_000)
    tags = forms.CharField(required=False, max_length=1000, help_text="Comma-separated")

    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class PassageEditForm(PassageForm):
    """An edit of a passage: its new text and tags, and the version the person edited (a newer one → 409)."""

    version = forms.IntegerField(min_value=1)


class ToolRunForm(forms.Form):
    args = forms.CharField(required=False, strip=True, widget=forms.Textarea)

    def clean_args(self):
        raw = self.cleaned_data["args"] or "{}"
        try:
            args = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Arguments must be JSON: {exc}") from None
        if not isinstance(args, dict):
            raise forms.ValidationError('Arguments must be a JSON object, e.g. {"x": 1}')
        return args


class ToolSourceForm(forms.Form):
    source_code = forms.CharField(strip=False, widget=forms.Textarea)
    pip_requirements = forms.CharField(required=False, widget=forms.Textarea)

    def clean_pip_requirements(self) -> list[dict]:
        """`name` or `name==version` per line, as the API's [{name, version}]."""
        out = []
        for n, line in enumerate((self.cleaned_data["pip_requirements"] or "").splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, version = (part.strip() for part in line.partition("=="))
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?", name) or (_ and not version):
                raise forms.ValidationError(f"Line {n}: write a package as name or name==version (got {line!r}).")
            out.append({"name": name, "version": version or None})
        return out


class ToolRulesForm(forms.Form):
    rules = forms.CharField(required=False, strip=True, widget=forms.Textarea)

    def clean_rules(self):
        raw = self.cleaned_data["rules"] or "[]"
        try:
            rules = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Tool rules must be a JSON list: {exc}") from None
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise forms.ValidationError("Tool rules must be a JSON list of objects, each with a “type”")
        return rules


MODEL_TUNING = ("max_tokens", "parallel_tool_calls", "enable_reasoner", "reasoning_effort")  # llm_config keys


class AgentSettingsForm(forms.Form):
    """The settings panel. Choices come from the model catalog (agents.runtime.providers)."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, max_length=2000)
    model = forms.ChoiceField()
    embedding = forms.ChoiceField()
    context_window_limit = forms.IntegerField(min_value=1000, label="Context window (tokens)")
    temperature = forms.FloatField(min_value=0, max_value=2)
    max_tokens = forms.IntegerField(required=False, min_value=1, label="Max output tokens")
    parallel_tool_calls = forms.BooleanField(required=False, label="Parallel tool calls")
    enable_reasoner = forms.BooleanField(required=False, label="Reasoning")
    reasoning_effort = forms.ChoiceField(
        required=False, choices=[("", "Model default"), ("low", "Low"), ("medium", "Medium"), ("high", "High")]
    )
    enable_sleeptime = forms.BooleanField(required=False, label="Sleep-time agent")
    system = forms.CharField(required=False, strip=False, widget=forms.Textarea, label="System prompt")
    tags = forms.CharField(required=False, max_length=1000, help_text="Comma-separated")
    # compaction_settings (memory/summarize.py): how the oldest messages are summarised when the window fills
    compaction_mode = forms.ChoiceField(
        required=False,
        choices=[
            ("sliding_window", "Sliding window: summarise the oldest part"),
            ("all", "All: summarise the whole history"),
            ("self_compact_sliding_window", "Self-compact, sliding window"),
            ("self_compact_all", "Self-compact, all"),
        ],
        label="Compaction mode",
    )
    compaction_sliding_window_percentage = forms.FloatField(
        required=False, min_value=0.05, max_value=0.95, label="Share of messages summarised (sliding window)"
    )
    compaction_clip_chars = forms.IntegerField(required=False, min_value=100, label="Longest summary (characters)")
    compaction_model = forms.ChoiceField(required=False, label="Summariser model")
    compaction_prompt = forms.CharField(required=False, strip=False, widget=forms.Textarea, label="Summariser prompt")

    def __init__(self, *args, agent, **kwargs):
        from agents.runtime.providers import embedding_handles, llm_handles

        super().__init__(*args, **kwargs)
        self.agent = agent
        current_model = agent.llm_config.get("handle") or agent.model_handle
        current_embedding = (agent.embedding_config or {}).get("handle", "")
        self.fields["model"].choices = _with_current(llm_handles(agent.organization_id), current_model)
        self.fields["embedding"].choices = _with_current(embedding_handles(), current_embedding)
        compaction = agent.compaction_settings or {}
        self.fields["compaction_model"].choices = [("", "The agent's own model")] + _with_current(
            llm_handles(agent.organization_id), compaction.get("model") or ""
        )
        if not self.is_bound:
            self.initial = {
                "version": agent.version,
                "name": agent.name,
                "description": agent.description,
                "model": current_model,
                "embedding": current_embedding,
                "context_window_limit": agent.context_window,
                "temperature": agent.llm_config.get("temperature", 0.7),
                **{k: agent.llm_config.get(k) for k in MODEL_TUNING},
                "enable_sleeptime": agent.enable_sleeptime,
                "system": agent.system,
                "tags": ", ".join(agent.tag_rows.values_list("tag", flat=True)),
                **{f"compaction_{k}": v or "" for k, v in _compaction_of(agent).items()},
            }

    def changes(self) -> dict:
        """A PATCH-shaped changes dict for agents.actions.update_agent, with only what differs."""
        data, agent = self.cleaned_data, self.agent
        changes = {k: data[k] for k in ("name", "description", "system") if data[k] != getattr(agent, k)}
        tags = [t.strip() for t in data["tags"].split(",") if t.strip()]
        if sorted(tags) != sorted(agent.tag_rows.values_list("tag", flat=True)):
            changes["tags"] = tags
        llm = agent.llm_config
        tuning = {k: data[k] or None for k in MODEL_TUNING}  # unset = the model's default
        if (
            data["model"] != (llm.get("handle") or agent.model_handle)
            or data["context_window_limit"] != agent.context_window
            or data["temperature"] != llm.get("temperature")
            or any(tuning[k] != (llm.get(k) or None) for k in MODEL_TUNING)
        ):
            given = {"temperature": data["temperature"], **{k: v for k, v in tuning.items() if v is not None}}
            changes.update(model=data["model"], context_window_limit=data["context_window_limit"], llm_config=given)
        if data["enable_sleeptime"] != agent.enable_sleeptime:
            changes["enable_sleeptime"] = data["enable_sleeptime"]
        if data["embedding"] != (agent.embedding_config or {}).get("handle", ""):
            changes["embedding"] = data["embedding"]
        compaction = self._compaction()
        if compaction != _compaction_of(agent):
            changes["compaction_settings"] = {**(agent.compaction_settings or {}), **compaction}
        return changes

    def _compaction(self) -> dict:
        """The posted compaction settings; a field left out of the post keeps the agent's value."""
        data, current, out = self.cleaned_data, _compaction_of(self.agent), {}
        for key, now in current.items():
            value = data[f"compaction_{key}"] if f"compaction_{key}" in self.data else now
            empty = value in (None, "")
            out[key] = (None if key in ("model", "prompt") else now) if empty else value  # empty model: the agent's
        return out


def _compaction_of(agent) -> dict:
    """The agent's compaction settings as the form edits them, defaults filled in."""
    current = agent.compaction_settings or {}
    return {
        "mode": current.get("mode") or "sliding_window",
        "sliding_window_percentage": current.get("sliding_window_percentage") or SLIDING_PERCENTAGE,
        "clip_chars": current.get("clip_chars") or CLIP_CHARS,
        "model": current.get("model") or None,
        "prompt": current.get("prompt") or None,
    }


def _with_current(handles: list[str], current: str) -> list[tuple[str, str]]:
    handles = list(handles) + ([current] if current and current not in handles else [])
    return [(h, h) for h in handles]
