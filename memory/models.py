from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from ade.errors import Conflict, Unprocessable
from ade.ids import PrefixedIdField

from .fields import EmbeddingField

DEFAULT_BLOCK_LIMIT = 100_000
READ_ONLY_ERROR = "Error This block is read-only and cannot be edited."
TEXT_FIELDS = ("value", "description", "label")


def normalize_newlines(text):
    """Browsers submit textareas with CRLF: stored text uses LF only, so counts, diffs and prompts agree."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if isinstance(text, str) else text


def normalize_text_fields(fields: dict) -> dict:
    """The one place every block write (pages, API, admin, tools) passes its text through."""
    return {k: normalize_newlines(v) if k in TEXT_FIELDS else v for k, v in fields.items()}


class Block(models.Model):
    """A core-memory block. Shared between agents through agents.AgentBlock."""

    id = PrefixedIdField("block")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="blocks")
    label = models.CharField(max_length=200)
    value = models.TextField(blank=True, default="")
    limit = models.PositiveIntegerField(default=DEFAULT_BLOCK_LIMIT)
    description = models.TextField(blank=True, default="")
    read_only = models.BooleanField(default=False)
    hidden = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    is_template = models.BooleanField(default=False)
    template_name = models.CharField(max_length=200, blank=True, default="")
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every change; stale writes are refused.")
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
        indexes = [models.Index(fields=["organization", "label"])]

    def __str__(self):
        return f"{self.label} ({self.id})"

    EDITABLE = ("label", "value", "limit", "description", "read_only", "hidden", "metadata", "tags")

    def snapshot(self) -> dict:
        return {f: getattr(self, f) for f in self.EDITABLE}

    def check_value(self, value: str, limit: int | None = None) -> None:
        """Refuse a value over the limit, with the classic error text."""
        limit = self.limit if limit is None else limit
        if len(value) > limit:
            raise Unprocessable(f"Edit failed: Exceeds {limit} character limit (requested {len(value)})", field="value")

    def apply_edit(self, changes: dict, *, expected_version: int | None = None) -> dict:
        """Apply field changes to this (locked) row in memory; return {field: (old, new)} of what changed.

        Refuses a stale `expected_version` and values past the limit. The caller saves and records history.
        """
        if expected_version is not None and expected_version != self.version:
            raise Conflict(
                f"Block {self.label!r} was changed by someone else (you edited version {expected_version}, "
                f"current is {self.version})",
                field="version",
                current=self,
            )
        changes = normalize_text_fields(changes)
        unknown = set(changes) - set(self.EDITABLE)
        if unknown:
            raise Unprocessable(f"unknown block field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
        new_value = changes.get("value", self.value)
        new_limit = changes.get("limit", self.limit)
        if new_limit is not None and new_limit < 1:
            raise Unprocessable("limit must be a positive number", field="limit")
        if "limit" in changes and "value" not in changes and len(self.value) > new_limit:
            raise Unprocessable(
                f"Limit ({new_limit}) cannot be less than current value length ({len(self.value)} characters)",
                field="limit",
            )
        self.check_value(new_value, new_limit)
        diff = {}
        for field, new in changes.items():
            old = getattr(self, field)
            if old != new:
                diff[field] = (old, new)
                setattr(self, field, new)
        if diff:
            self.version += 1
        return diff


class BlockHistory(models.Model):
    """One row per change of a block: enough to show a diff and to undo."""

    ACTOR_TYPES = [("user", "user"), ("agent", "agent tool"), ("api", "API"), ("admin", "admin"), ("system", "system")]

    block = models.ForeignKey(Block, on_delete=models.CASCADE, related_name="history")
    version = models.PositiveIntegerField(help_text="The block's version after this change.")
    actor_type = models.CharField(max_length=10, choices=ACTOR_TYPES)
    actor_id = models.CharField(max_length=64, blank=True, default="", help_text="User id or agent id.")
    actor_name = models.CharField(max_length=200, blank=True, default="")
    tool_name = models.CharField(max_length=100, blank=True, default="")
    previous = models.JSONField(default=dict, help_text="Changed fields before the change.")
    new = models.JSONField(default=dict, help_text="Changed fields after the change.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["block", "version"], name="uniq_block_history_version")]

    def __str__(self):
        return f"{self.block_id} v{self.version}"

    @property
    def previous_value(self):
        return self.previous.get("value")

    @property
    def new_value(self):
        return self.new.get("value")


class Archive(models.Model):
    """A collection of archival passages. Every agent has a default one; archives can be shared."""

    id = PrefixedIdField("archive")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="archives")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    embedding_config = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.name


class Folder(models.Model):
    """A folder (Letta: source) of uploaded files; its chunks are passages."""

    id = PrefixedIdField("source")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    instructions = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    embedding_config = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="uniq_folder_name")]

    def __str__(self):
        return self.name


class File(models.Model):
    STATUSES = [(s, s) for s in ("pending", "parsing", "embedding", "completed", "error")]

    id = PrefixedIdField("file")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="files")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="files")
    file_name = models.CharField(max_length=500)
    original_file_name = models.CharField(max_length=500, blank=True, default="")
    file_path = models.CharField(max_length=1000, blank=True, default="")
    file_type = models.CharField(max_length=200, blank=True, default="")
    file_size = models.BigIntegerField(default=0)
    processing_status = models.CharField(max_length=12, choices=STATUSES, default="pending")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    error_message = models.TextField(blank=True, default="")
    total_chunks = models.IntegerField(null=True, blank=True)
    chunks_embedded = models.IntegerField(null=True, blank=True)
    content = models.TextField(blank=True, default="", help_text="Extracted text.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.file_name


class Passage(models.Model):
    """Archival memory (archive set) or a file chunk (folder/file set)."""

    id = PrefixedIdField("passage")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="passages")
    archive = models.ForeignKey(Archive, null=True, blank=True, on_delete=models.CASCADE, related_name="passages")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.CASCADE, related_name="passages")
    file = models.ForeignKey(File, null=True, blank=True, on_delete=models.CASCADE, related_name="passages")
    text = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    embedding = EmbeddingField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedding_dim = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    version = models.PositiveIntegerField(default=1)  # bumped by every edit: a stale edit is refused
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["archive", "embedding_model", "created_at"]),
            models.Index(fields=["folder", "embedding_model"]),
        ]

    def __str__(self):
        return self.text[:60]


class PassageTag(models.Model):
    """Tags in a table of their own, so tag filters run in SQL on every backend."""

    passage = models.ForeignKey(Passage, on_delete=models.CASCADE, related_name="tag_rows")
    archive = models.ForeignKey(Archive, null=True, on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["archive", "tag"])]
        constraints = [models.UniqueConstraint(fields=["passage", "tag"], name="uniq_passage_tag")]


class RecallVector(models.Model):
    """The embedding of one message's searchable text, for `conversation_search` by meaning (memory/recall_vectors.py).
    Made when a search first needs it, never while a turn writes its messages."""

    message = models.OneToOneField(
        "agents.Message", on_delete=models.CASCADE, primary_key=True, related_name="recall_vector"
    )
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="+", db_index=False)
    embedding = EmbeddingField()
    embedding_model = models.CharField(max_length=200)

    class Meta:
        indexes = [models.Index(fields=["agent", "embedding_model"])]
