"""Wire shapes of memory: blocks, passages (archival memory), folders and files, embedding configs."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from ade.wire import RequestSchema

from .models import DEFAULT_BLOCK_LIMIT

INT32 = 2**31 - 1
Label = Field(..., min_length=1, max_length=200)

EMBEDDING_ENDPOINT_TYPES = Literal[
    "openai", "anthropic", "bedrock", "google_ai", "google_vertex", "azure", "groq", "ollama", "webui",
    "webui-legacy", "lmstudio", "lmstudio-legacy", "llamacpp", "koboldcpp", "vllm", "hugging-face", "mistral",
    "together", "pinecone",
]


class EmbeddingConfig(Schema):
    """How text is embedded. Unknown keys are kept, as Letta's configs carry provider extras."""

    model_config = ConfigDict(extra="allow")

    embedding_endpoint_type: EMBEDDING_ENDPOINT_TYPES
    embedding_model: str = Field(..., min_length=1, max_length=200)
    embedding_dim: int = Field(..., ge=1, le=65536)
    embedding_endpoint: str | None = Field(None, max_length=500)
    embedding_chunk_size: int | None = Field(300, ge=1, le=100_000)
    handle: str | None = Field(None, max_length=300)
    batch_size: int = Field(32, ge=1, le=10_000)
    azure_endpoint: str | None = None
    azure_version: str | None = None
    azure_deployment: str | None = None


# ---------------------------------------------------------------------------------------------------------------
# Blocks

class _BlockTemplateFields(RequestSchema):
    """Letta Cloud template fields: accepted so SDK calls that set them work; Engram has no templates."""

    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    entity_id: str | None = None
    preserve_on_migration: bool | None = None
    is_template: bool | None = None
    template_name: str | None = Field(None, max_length=200)


class BlockIn(_BlockTemplateFields):
    label: str = Label
    value: str
    limit: int = Field(DEFAULT_BLOCK_LIMIT, ge=1, le=INT32)
    description: str | None = None
    read_only: bool = False
    hidden: bool | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None

    def block_fields(self) -> dict:
        """Keyword arguments for memory.actions.create_block."""
        fields = self.dict(include={"label", "value", "limit", "description", "read_only", "hidden", "metadata",
                                    "tags"})
        fields["hidden"] = bool(fields["hidden"])
        return fields


class BlockPatch(_BlockTemplateFields):
    """A partial edit. `version` (Engram extension): the version the client edited; a newer block → 409.

    The same can be sent as an `If-Match: "<version>"` header.
    """

    label: str | None = Field(None, min_length=1, max_length=200)
    value: str | None = None
    limit: int | None = Field(None, ge=1, le=INT32)
    description: str | None = None
    read_only: bool | None = None
    hidden: bool | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    version: int | None = Field(None, ge=1, description="Engram: refuse the edit (409) unless this is the current "
                                                        "version of the block.")

    def changes(self) -> dict:
        """The fields the client set to a value (null means "leave as is")."""
        sent = self.dict(exclude_unset=True, include={"label", "value", "limit", "description", "read_only",
                                                      "hidden", "metadata", "tags"})
        return {k: v for k, v in sent.items() if v is not None}


class BlockOut(Schema):
    id: str
    label: str
    value: str
    limit: int
    description: str | None
    read_only: bool
    hidden: bool
    metadata: dict[str, Any]
    tags: list[str]
    is_template: bool
    template_name: str | None
    preserve_on_migration: bool = False
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    entity_id: str | None = None
    created_by_id: str | None
    last_updated_by_id: str | None
    version: int = Field(..., description="Engram: bumped on every change; send it back to edit safely.")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_template_name(block) -> str | None:
        return block.template_name or None


class FileBlockOut(Schema):
    """An attached file as it sits in the agent's memory."""

    id: str
    label: str
    value: str
    limit: int = DEFAULT_BLOCK_LIMIT
    file_id: str
    source_id: str
    is_open: bool
    last_accessed_at: datetime | None
    read_only: bool = True
    description: str | None = None
    metadata: dict[str, Any] = {}
    tags: list[str] = []

    @staticmethod
    def resolve_label(link) -> str:
        return link.file.file_name

    @staticmethod
    def resolve_value(link) -> str:
        return link.visible_content if link.is_open else ""

    @staticmethod
    def resolve_source_id(link) -> str:
        return link.file.folder_id
