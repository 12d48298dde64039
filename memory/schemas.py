"""Wire shapes of memory: blocks, passages (archival memory), folders and files, embedding configs."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from ade.wire import RequestSchema, StrictScalars

from .models import DEFAULT_BLOCK_LIMIT

INT32 = 2**31 - 1
Label = Field(..., min_length=1, max_length=200)

EMBEDDING_ENDPOINT_TYPES = Literal[
    "openai",
    "anthropic",
    "bedrock",
    "google_ai",
    "google_vertex",
    "azure",
    "groq",
    "ollama",
    "webui",
    "webui-legacy",
    "lmstudio",
    "lmstudio-legacy",
    "llamacpp",
    "koboldcpp",
    "vllm",
    "hugging-face",
    "mistral",
    "together",
    "pinecone",
]


class EmbeddingConfig(StrictScalars):
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
        fields = self.dict(
            include={"label", "value", "limit", "description", "read_only", "hidden", "metadata", "tags"}
        )
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
    version: int | None = Field(
        None, ge=1, description="Engram: refuse the edit (409) unless this is the current version of the block."
    )

    def changes(self) -> dict:
        """The fields the client set to a value (null means "leave as is")."""
        sent = self.dict(
            exclude_unset=True,
            include={"label", "value", "limit", "description", "read_only", "hidden", "metadata", "tags"},
        )
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


# ---------------------------------------------------------------------------------------------------------------
# Archival memory (passages)


class PassageIn(RequestSchema):
    text: str = Field(..., min_length=1, max_length=1_000_000)
    tags: list[str] | None = None
    created_at: datetime | None = None


class PassagePatch(RequestSchema):
    """Engram: edit an archival passage (Letta has no such route). Fields left out stay as they are; `version`
    (or `If-Match`) = the version the client edited, a newer passage → 409."""

    text: str | None = Field(None, min_length=1, max_length=1_000_000)
    tags: list[str] | None = None
    version: int | None = Field(None, ge=1, le=INT32)


class PassageOut(Schema):
    id: str
    text: str
    tags: list[str]
    metadata: dict[str, Any]
    archive_id: str | None
    source_id: str | None
    file_id: str | None
    file_name: str | None = None
    embedding: list[float] | None = None
    embedding_config: EmbeddingConfig | None = None
    is_deleted: bool = False
    created_by_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(1, description="Engram: bumped on every edit; send it back to edit safely.")

    @staticmethod
    def resolve_source_id(passage) -> str | None:
        return passage.folder_id

    @staticmethod
    def resolve_embedding(passage) -> None:
        return None  # hundreds of floats per passage that no client needs back


class SearchResult(Schema):
    id: str
    content: str
    timestamp: str
    tags: list[str]


class SearchResults(Schema):
    results: list[SearchResult]
    count: int


# ---------------------------------------------------------------------------------------------------------------
# Folders and files


class FolderIn(RequestSchema):
    name: str = Field(..., min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    instructions: str | None = Field(None, max_length=100_000)
    metadata: dict[str, Any] | None = None
    embedding: str | None = Field(None, max_length=300, description='Embedding handle "provider/model".')
    embedding_config: EmbeddingConfig | None = None
    embedding_chunk_size: int | None = Field(None, ge=50, le=100_000)


class FolderPatch(RequestSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    instructions: str | None = Field(None, max_length=100_000)
    metadata: dict[str, Any] | None = None
    embedding_config: EmbeddingConfig | None = None


class FolderOut(Schema):
    id: str
    name: str
    description: str | None
    instructions: str | None
    metadata: dict[str, Any]
    embedding_config: EmbeddingConfig
    vector_db_provider: Literal["native"] = "native"
    organization_id: str
    created_by_id: str | None
    last_updated_by_id: str | None = None
    created_at: datetime
    updated_at: datetime


class FileOut(Schema):
    id: str
    source_id: str
    file_name: str
    original_file_name: str | None
    file_path: str | None
    file_type: str | None
    file_size: int | None
    file_creation_date: str | None = None
    file_last_modified_date: str | None = None
    processing_status: Literal["pending", "parsing", "embedding", "completed", "error"]
    error_message: str | None
    total_chunks: int | None
    chunks_embedded: int | None
    content: str | None = None
    organization_id: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_source_id(file) -> str:
        return file.folder_id

    @staticmethod
    def resolve_error_message(file) -> str | None:
        return file.error_message or None

    @staticmethod
    def resolve_content(file) -> str | None:
        # Loaded only with ?include_content=true (the text can be large); otherwise deferred.
        return None if "content" in file.get_deferred_fields() else file.content
