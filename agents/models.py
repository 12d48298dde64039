import itertools
import time

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from accounts.models import Organization
from ade.ids import PrefixedIdField
from ade.secrets import EncryptedMapField
from agents.runtime.traces import TraceEncoder
from memory.models import Archive, Block, File, Folder
from memory.queries import agent_blocks
from tools.models import Tool

AGENT_TYPES = [
    (t, t)
    for t in (
        "letta_v1_agent",
        "memgpt_agent",
        "memgpt_v2_agent",
        "react_agent",
        "workflow_agent",
        "sleeptime_agent",
        "split_thread_agent",
        "voice_convo_agent",
        "voice_sleeptime_agent",
    )
]

_seq_counter = itertools.count()


def next_seq() -> int:
    """A strictly increasing ordering key for messages (time-based; unique within a process)."""
    return time.time_ns() // 1000 * 1000 + next(_seq_counter) % 1000


class Agent(models.Model):
    id = PrefixedIdField("agent")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    agent_type = models.CharField(max_length=40, choices=AGENT_TYPES, default="letta_v1_agent")
    system = models.TextField(blank=True, default="", help_text="The base system prompt (memory is compiled after it).")
    llm_config = models.JSONField(default=dict)
    embedding_config = models.JSONField(default=dict, blank=True)
    tool_rules = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    message_ids = models.JSONField(default=list, blank=True, help_text="Ordered in-context message ids; [0] is system.")
    message_buffer_autoclear = models.BooleanField(default=False)
    enable_sleeptime = models.BooleanField(default=False)
    max_files_open = models.PositiveIntegerField(null=True, blank=True)
    per_file_view_window_char_limit = models.PositiveIntegerField(null=True, blank=True)
    response_format = models.JSONField(null=True, blank=True)
    compaction_settings = models.JSONField(null=True, blank=True)
    secrets = EncryptedMapField(editable=False, help_text="Tool environment variables: encrypted, never exported.")
    hidden = models.BooleanField(default=False, help_text="Left out of agent lists unless asked for.")
    project_id = models.CharField(max_length=100, blank=True, default="", help_text="A client's own grouping.")
    template_id = models.CharField(max_length=100, blank=True, default="")
    base_template_id = models.CharField(max_length=100, blank=True, default="")
    last_run_completion = models.DateTimeField(null=True, blank=True)
    last_run_duration_ms = models.IntegerField(null=True, blank=True)
    last_stop_reason = models.CharField(max_length=64, blank=True, default="")
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every settings change.")
    blocks = models.ManyToManyField(Block, through="AgentBlock", related_name="agents")
    tools = models.ManyToManyField(Tool, through="AgentTool", related_name="agents")
    folders = models.ManyToManyField(Folder, through="AgentFolder", related_name="agents")
    archives = models.ManyToManyField(Archive, related_name="agents", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    @property
    def context_window(self) -> int:
        return int(self.llm_config.get("context_window") or 128_000)

    @property
    def model_handle(self) -> str:
        cfg = self.llm_config
        return cfg.get("handle") or f"{cfg.get('model_endpoint_type', 'openai')}/{cfg.get('model', '')}"

    def ordered_blocks(self):
        return agent_blocks(self.id)


class AgentBlock(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    block = models.ForeignKey(Block, on_delete=models.CASCADE)
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["agent", "block"], name="uniq_agent_block")]


class AgentTool(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE)
    position = models.IntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["agent", "tool"], name="uniq_agent_tool")]


class AgentFolder(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "folder"], name="uniq_agent_folder")]


class AgentTag(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tag_rows")
    tag = models.CharField(max_length=200, db_index=True)

    class Meta:
        ordering = ["tag"]
        constraints = [models.UniqueConstraint(fields=["agent", "tag"], name="uniq_agent_tag")]


class FileAgent(models.Model):
    """An attached file as the agent sees it: open or closed, with its visible window."""

    id = PrefixedIdField("file_agent")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="file_links")
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="agent_links")
    is_open = models.BooleanField(default=False)
    visible_content = models.TextField(blank=True, default="")
    start_line = models.IntegerField(null=True, blank=True)
    end_line = models.IntegerField(null=True, blank=True)
    last_accessed_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "file"], name="uniq_file_agent")]


class Conversation(models.Model):
    """A thread of an agent with its own in-context message list; blocks, tools and recall are the agent's.
    The agent's own `message_ids` is the "default" conversation. Deleting one only hides it (its messages stay
    searchable, as the agent's history)."""

    id = PrefixedIdField("conv")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="conversations")
    summary = models.TextField(blank=True, default="")
    message_ids = models.JSONField(default=list, blank=True, help_text="In-context ids; [0] is the agent's system.")
    model = models.CharField(max_length=200, blank=True, default="", help_text="A model handle overriding the agent's.")
    model_settings = models.JSONField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]


class Run(models.Model):
    STATUSES = [(s, s) for s in ("created", "running", "completed", "failed", "cancelled")]

    id = PrefixedIdField("run")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=12, choices=STATUSES, default="created", db_index=True)
    stop_reason = models.CharField(max_length=64, blank=True, default="")
    background = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    request_config = models.JSONField(default=dict, blank=True)
    input = models.JSONField(default=list, blank=True, help_text="The turn's input messages, as sent.")
    options = models.JSONField(default=dict, blank=True, help_text="Turn options: max_steps, stream_tokens, ...")
    usage = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    ttft_ns = models.BigIntegerField(null=True, blank=True)
    total_duration_ns = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


class Step(models.Model):
    """One LLM call of a run."""

    STATUSES = [(s, s) for s in ("pending", "success", "failed", "cancelled")]

    id = PrefixedIdField("step")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="steps")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="steps")
    model = models.CharField(max_length=200, blank=True, default="")
    model_endpoint = models.CharField(max_length=500, blank=True, default="")
    model_handle = models.CharField(max_length=200, blank=True, default="")
    provider_name = models.CharField(max_length=100, blank=True, default="")
    context_window_limit = models.IntegerField(null=True, blank=True)
    prompt_tokens = models.IntegerField(default=0)
    completion_tokens = models.IntegerField(default=0)
    total_tokens = models.IntegerField(default=0)
    reasoning_tokens = models.IntegerField(null=True, blank=True)
    cached_input_tokens = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default="pending")
    stop_reason = models.CharField(max_length=64, blank=True, default="")
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_data = models.JSONField(null=True, blank=True)
    llm_request_ns = models.BigIntegerField(null=True, blank=True)
    tool_execution_ns = models.BigIntegerField(null=True, blank=True)
    step_ns = models.BigIntegerField(null=True, blank=True)
    feedback = models.CharField(max_length=10, blank=True, default="", help_text="positive, negative or empty.")
    tags = models.JSONField(default=list, blank=True)
    trace = models.JSONField(
        null=True,
        blank=True,
        encoder=TraceEncoder,
        help_text="What the step sent to the model and got back: bounded, secrets redacted.",
    )
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]


class Message(models.Model):
    """Every message ever created for an agent (recall memory). In-context = Agent.message_ids."""

    ROLES = [(r, r) for r in ("system", "user", "assistant", "tool", "approval", "summary")]

    id = PrefixedIdField("message")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="messages")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )  # null: the agent's default conversation
    seq = models.BigIntegerField(default=next_seq, db_index=True, help_text="Ordering key.")
    role = models.CharField(max_length=10, choices=ROLES)
    content = models.JSONField(default=list, blank=True, help_text="Content parts: [{type, text, ...}].")
    tool_calls = models.JSONField(null=True, blank=True, help_text="OpenAI-shaped tool calls.")
    tool_call_id = models.CharField(max_length=200, blank=True, default="")
    tool_returns = models.JSONField(null=True, blank=True)
    name = models.CharField(max_length=200, blank=True, default="")
    otid = models.CharField(max_length=64, blank=True, default="")
    sender_id = models.CharField(max_length=200, blank=True, default="")
    group_id = models.CharField(max_length=64, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    approve = models.BooleanField(null=True, blank=True)
    approval_request_id = models.CharField(max_length=64, blank=True, default="")
    denial_reason = models.TextField(blank=True, default="")
    approvals = models.JSONField(null=True, blank=True)
    is_err = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now, db_index=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["agent", "seq"]), models.Index(fields=["agent", "role", "seq"])]

    def __str__(self):
        return f"{self.role}: {self.text[:60]}"

    @property
    def text(self) -> str:
        """The concatenated text parts."""
        return "".join(p.get("text", "") for p in (self.content or []) if p.get("type") in ("text", None))


class Group(models.Model):
    """A multi-agent container; Engram uses it for sleep-time agents."""

    id = PrefixedIdField("group")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    manager_type = models.CharField(max_length=40, default="sleeptime")
    manager_agent = models.ForeignKey(Agent, null=True, on_delete=models.CASCADE, related_name="managed_groups")
    agents = models.ManyToManyField(Agent, related_name="groups")
    description = models.TextField(blank=True, default="")
    sleeptime_agent_frequency = models.IntegerField(null=True, blank=True, default=5)
    turns_counter = models.IntegerField(default=-1)
    last_processed_message_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=now)


class Identity(models.Model):
    """Someone (a user, an organization, anything) whom agents and blocks belong to, by an app's own key."""

    TYPES = [(t, t) for t in ("org", "user", "other")]

    id = PrefixedIdField("identity")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="identities")
    identifier_key = models.CharField(max_length=200, help_text="The app's own id for this identity.")
    name = models.CharField(max_length=200)
    identity_type = models.CharField(max_length=8, choices=TYPES)
    project_id = models.CharField(max_length=100, blank=True, default="")
    properties = models.JSONField(default=list, blank=True, help_text="[{key, value, type}]")
    agents = models.ManyToManyField(Agent, related_name="identities", blank=True)
    blocks = models.ManyToManyField(Block, related_name="identities", blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "identifier_key"], name="uniq_identity_key")]

    def __str__(self):
        return f"{self.name} ({self.identifier_key})"


class Provider(models.Model):
    """An LLM provider an organization added (Letta's BYOK providers): its models become handles
    `<name>/<model>` for that organization only. The key is encrypted at rest (ade/secrets.py) and goes only to
    `base_url`; agents/org_providers.py is the one place that reads it."""

    id = PrefixedIdField("provider")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="providers")
    name = models.CharField(max_length=60)
    provider_type = models.CharField(max_length=32)
    base_url = models.CharField(max_length=2000)
    api_key = models.TextField(blank=True, default="")  # a Fernet token ("" when the provider takes no key)
    api_version = models.CharField(max_length=40, blank=True, default="")
    region = models.CharField(max_length=40, blank=True, default="")
    listed_models = models.JSONField(default=list, blank=True)  # [{"name", "context_window"}], as last listed
    last_synced = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="uniq_provider_name_per_org")]

    def __str__(self):
        return self.name
