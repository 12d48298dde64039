from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from ade.ids import PrefixedIdField

DEFAULT_RETURN_CHAR_LIMIT = 50_000

TOOL_TYPES = [
    (t, t)
    for t in (
        "custom",
        "letta_core",
        "letta_memory_core",
        "letta_multi_agent_core",
        "letta_sleeptime_core",
        "letta_voice_sleeptime_core",
        "letta_builtin",
        "letta_files_core",
        "external_mcp",
        "external_composio",
        "external_langchain",
    )
]


class MCPServer(models.Model):
    """A Model Context Protocol server of an organization. Its auth token, custom headers and (stdio) environment are
    stored encrypted in `secrets` (ade/secrets.py); `server_url` and `command`/`args` are not secret."""

    TYPES = ("stdio", "sse", "streamable_http")

    id = PrefixedIdField("mcp_server")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="mcp_servers")
    server_name = models.CharField(max_length=100)
    server_type = models.CharField(max_length=20, choices=[(t, t) for t in TYPES])
    server_url = models.CharField(max_length=2000, blank=True, default="")
    command = models.CharField(max_length=500, blank=True, default="")
    args = models.JSONField(default=list, blank=True)
    auth_header = models.CharField(max_length=200, blank=True, null=True)
    secrets = models.TextField(blank=True, default="")  # encrypted {"auth_token", "custom_headers", "env"}
    last_error = models.TextField(blank=True, default="")
    tools_synced_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "server_name"], name="uniq_mcp_server_name_per_org")
        ]

    def __str__(self):
        return self.server_name


class Tool(models.Model):
    id = PrefixedIdField("tool")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=48)
    description = models.TextField(blank=True, default="")
    tool_type = models.CharField(max_length=40, choices=TOOL_TYPES, default="custom")
    source_type = models.CharField(max_length=20, default="python")
    source_code = models.TextField(blank=True, null=True)
    json_schema = models.JSONField(default=dict, blank=True)
    args_json_schema = models.JSONField(null=True, blank=True)
    return_char_limit = models.PositiveIntegerField(default=DEFAULT_RETURN_CHAR_LIMIT)
    tags = models.JSONField(default=list, blank=True)
    pip_requirements = models.JSONField(default=list, blank=True)
    npm_requirements = models.JSONField(default=list, blank=True)
    default_requires_approval = models.BooleanField(default=False)
    enable_parallel_execution = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    # external_mcp tools: the server that offers them (metadata["mcp"] has its name and the tool's remote name).
    mcp_server = models.ForeignKey(MCPServer, null=True, blank=True, on_delete=models.CASCADE, related_name="tools")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="uniq_tool_name_per_org")]

    def __str__(self):
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.tool_type != "custom" and not self.tool_type.startswith("external_")
