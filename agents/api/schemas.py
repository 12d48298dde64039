"""Wire shapes of agents (Letta's CreateAgentRequest / UpdateAgent / AgentState) and the model catalog."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict

from ade.wire import RequestSchema, StrictScalars
from memory.schemas import INT32, BlockIn, BlockOut, EmbeddingConfig, FileBlockOut, FolderOut
from tools.schemas import ToolOut

AgentType = Literal[
    "memgpt_agent",
    "memgpt_v2_agent",
    "letta_v1_agent",
    "react_agent",
    "workflow_agent",
    "split_thread_agent",
    "sleeptime_agent",
    "voice_convo_agent",
    "voice_sleeptime_agent",
]
StopReason = Literal[
    "end_turn",
    "error",
    "llm_api_error",
    "invalid_llm_response",
    "invalid_tool_call",
    "max_steps",
    "max_tokens_exceeded",
    "no_tool_call",
    "tool_rule",
    "cancelled",
    "insufficient_credits",
    "requires_approval",
    "context_window_overflow_in_system_prompt",
]
ModelEndpointType = Literal[
    "openai",
    "anthropic",
    "google_ai",
    "google_vertex",
    "azure",
    "groq",
    "ollama",
    "webui",
    "webui-legacy",
    "lmstudio",
    "lmstudio-legacy",
    "lmstudio-chatcompletions",
    "llamacpp",
    "koboldcpp",
    "vllm",
    "hugging-face",
    "minimax",
    "moonshot",
    "moonshot_coding",
    "mistral",
    "together",
    "bedrock",
    "deepseek",
    "xai",
    "zai",
    "zai_coding",
    "baseten",
    "fireworks",
    "openrouter",
    "chatgpt_oauth",
]
Include = Literal[
    "agent.blocks",
    "agent.identities",
    "agent.managed_group",
    "agent.pending_approval",
    "agent.secrets",
    "agent.sources",
    "agent.tags",
    "agent.tools",
]
Name = Field(
    None,
    min_length=1,
    max_length=200,
    pattern=r"^[\w '\-]+$",
    description="Letters, digits, spaces, underscores, apostrophes and dashes.",
)
Ids = list[str] | None


class LlmConfigOut(BaseModel):
    """Which model an agent calls: the stored config as it is (Letta configs carry provider extras)."""

    model_config = ConfigDict(extra="allow")

    model: str
    model_endpoint_type: ModelEndpointType
    context_window: int


class LlmConfig(LlmConfigOut, StrictScalars):
    """An `llm_config` sent by a client. An `openai` endpoint type with a `model_endpoint` base URL makes the agent
    call that OpenAI-compatible server."""

    model: str = Field(..., min_length=1, max_length=200)
    context_window: int = Field(..., ge=1, le=INT32)
    model_endpoint: str | None = Field(None, max_length=500)
    provider_name: str | None = Field(None, max_length=200)
    provider_category: Literal["base", "byok"] | None = None
    handle: str | None = Field(None, max_length=300)
    display_name: str | None = Field(None, max_length=300)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=INT32)
    enable_reasoner: bool | None = None
    max_reasoning_tokens: int | None = Field(None, ge=0, le=INT32)
    put_inner_thoughts_in_kwargs: bool | None = None
    parallel_tool_calls: bool | None = None


class MessageIn(RequestSchema):
    """One message of `initial_message_sequence` (type "message")."""

    role: Literal["user", "system", "assistant"]
    content: str | list[dict[str, Any]]
    type: Literal["message"] | None = None
    name: str | None = Field(None, max_length=200)
    otid: str | None = Field(None, max_length=64)
    sender_id: str | None = Field(None, max_length=200)
    group_id: str | None = Field(None, max_length=64)
    batch_item_id: str | None = Field(None, max_length=64)


class _CloudFields(RequestSchema):
    """Projects, templates and identities. `identity_ids` replaces the agent's identities (an unknown id is a
    404, see agents.identities); project and template fields are accepted so SDK calls that set them work."""

    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    identity_ids: Ids = None


class _AgentSettings(_CloudFields):
    """Fields shared by create and modify."""

    system: str | None = Field(None, max_length=1_000_000)
    description: str | None = Field(None, max_length=100_000)
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    tool_ids: Ids = None
    block_ids: Ids = None
    folder_ids: Ids = None
    source_ids: Ids = Field(None, description="Deprecated spelling of folder_ids.")
    tool_rules: list[dict[str, Any]] | None = None
    model: str | None = Field(None, max_length=300, description='LLM handle "provider/model".')
    embedding: str | None = Field(None, max_length=300, description='Embedding handle "provider/model".')
    llm_config: LlmConfig | None = None
    embedding_config: EmbeddingConfig | None = None
    model_settings: dict[str, Any] | None = None
    compaction_settings: dict[str, Any] | None = None
    context_window_limit: int | None = Field(None, ge=1, le=INT32)
    max_tokens: int | None = Field(None, ge=1, le=INT32)
    reasoning: bool | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    tool_exec_environment_variables: dict[str, str] | None = None
    secrets: dict[str, str] | None = None
    message_buffer_autoclear: bool | None = None
    enable_sleeptime: bool | None = None
    timezone: str | None = Field(None, max_length=64)
    max_files_open: int | None = Field(None, ge=1, le=1000)
    per_file_view_window_char_limit: int | None = Field(None, ge=1, le=INT32)
    hidden: bool | None = None


class AgentIn(_AgentSettings):
    """POST /v1/agents/. Only the fields a client sends arrive; defaults follow Letta."""

    name: str | None = Name
    agent_type: AgentType = "letta_v1_agent"
    memory_blocks: list[BlockIn] | None = None
    tools: list[str] | None = Field(None, description="Names of existing tools to attach.")
    include_base_tools: bool = True
    include_multi_agent_tools: bool = False
    include_base_tool_rules: bool | None = None
    include_default_source: bool = False
    initial_message_sequence: list[MessageIn] | None = None
    embedding_chunk_size: int | None = Field(None, ge=50, le=100_000)
    max_reasoning_tokens: int | None = Field(None, ge=0, le=INT32)
    enable_reasoner: bool | None = None
    from_template: str | None = None
    template: bool = False
    project: str | None = None
    memory_variables: dict[str, Any] | None = None
    actor_id: str | None = None


class AgentPatch(_AgentSettings):
    """PATCH /v1/agents/{id}: only the fields sent change; id lists replace the whole set.

    `version` (Engram extension, or an `If-Match: "<version>"` header): refuse the change with 409 if the agent
    has changed since the client read that version.
    """

    name: str | None = Name
    message_ids: Ids = Field(None, description="Replace the in-context message list (system message first).")
    last_run_completion: datetime | None = None
    last_run_duration_ms: int | None = Field(None, ge=0, le=INT32)
    last_stop_reason: StopReason | None = None
    version: int | None = Field(None, ge=1)


class SecretOut(Schema):
    agent_id: str
    key: str
    value: str
    id: str | None = None
    description: str | None = None


class MemoryOut(Schema):
    agent_type: AgentType | None = None
    blocks: list[BlockOut]
    file_blocks: list[FileBlockOut] = []
    prompt_template: str = ""
    git_enabled: bool = False


class GroupOut(Schema):
    id: str
    manager_type: str
    agent_ids: list[str]
    description: str
    manager_agent_id: str | None = None
    sleeptime_agent_frequency: int | None = None
    turns_counter: int | None = None
    last_processed_message_id: str | None = None
    shared_block_ids: list[str] = []
    hidden: bool | None = None


class AgentOut(Schema):
    """Letta's AgentState. Relationships (blocks, tools, sources, tags) are always filled."""

    id: str
    name: str
    system: str
    agent_type: AgentType
    description: str | None
    llm_config: LlmConfigOut
    embedding_config: EmbeddingConfig | None
    model: str | None
    embedding: str | None
    model_settings: dict[str, Any] | None = None
    compaction_settings: dict[str, Any] | None
    response_format: dict[str, Any] | None
    tool_rules: list[dict[str, Any]]
    message_ids: list[str]
    metadata: dict[str, Any]
    memory: MemoryOut
    blocks: list[BlockOut]
    tools: list[ToolOut]
    sources: list[FolderOut]
    tags: list[str]
    tool_exec_environment_variables: list[SecretOut]
    secrets: list[SecretOut]
    identity_ids: list[str] = []
    identities: list[dict[str, Any]] = []
    pending_approval: dict[str, Any] | None = None
    multi_agent_group: GroupOut | None = None
    managed_group: GroupOut | None = None
    message_buffer_autoclear: bool
    enable_sleeptime: bool
    last_run_completion: datetime | None
    last_run_duration_ms: int | None
    last_stop_reason: StopReason | None
    timezone: str
    max_files_open: int | None
    per_file_view_window_char_limit: int | None
    hidden: bool
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    entity_id: str | None = None
    created_by_id: str | None
    last_updated_by_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(..., description="Engram: bumped on every settings change.")


class AgentFilters(Schema):
    """GET /v1/agents/ and /v1/agents/count filters. Hidden agents are left out unless `exclude_hidden=false`;
    project and template ids match what agents were created with (Engram keeps them; it has no projects)."""

    name: str | None = None
    tags: list[str] | None = None
    match_all_tags: bool = False
    query_text: str | None = None
    last_stop_reason: StopReason | None = None
    created_by_id: str | None = None
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    identity_id: str | None = None
    identifier_keys: list[str] | None = None
    exclude_hidden: bool = Field(True, description="Engram: false lists hidden agents too (as Letta's count does).")


class IncludeParams(Schema):
    include: list[Include] = []
    include_relationships: list[str] | None = None


class ModelOut(BaseModel):
    """An LLM handle clients can pass as `model`."""

    model_config = ConfigDict(extra="allow")

    handle: str
    model: str
    name: str
    display_name: str | None
    context_window: int
    max_context_window: int
    model_endpoint_type: ModelEndpointType
    model_endpoint: str | None
    provider_type: str
    provider_name: str
    provider_category: Literal["base", "byok"] | None
    model_type: Literal["llm"] = "llm"


class EmbeddingModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    handle: str
    name: str
    display_name: str
    embedding_model: str
    embedding_endpoint_type: str
    embedding_endpoint: str | None
    embedding_dim: int
    embedding_chunk_size: int | None
    provider_name: str
    provider_type: str
    model_type: Literal["embedding"] = "embedding"


class ImportedAgents(Schema):
    agent_ids: list[str]


class ResetIn(RequestSchema):
    add_default_initial_messages: bool = False


class InternalMessageOut(Schema):
    """A stored message as the model sees it (Letta's internal Message), for the context window view."""

    id: str
    agent_id: str
    role: str
    content: list[dict[str, Any]]
    name: str | None
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    step_id: str | None
    run_id: str | None
    created_at: datetime

    @staticmethod
    def resolve_name(message) -> str | None:
        return message.name or None

    @staticmethod
    def resolve_tool_call_id(message) -> str | None:
        return message.tool_call_id or None


class ContextOut(Schema):
    """Letta's ContextWindowOverview: what the next model call would contain, section by section, in tokens."""

    context_window_size_max: int
    context_window_size_current: int
    num_messages: int
    num_archival_memory: int
    num_recall_memory: int
    num_tokens_external_memory_summary: int
    external_memory_summary: str
    num_tokens_system: int
    system_prompt: str
    num_tokens_core_memory: int
    core_memory: str
    num_tokens_summary_memory: int
    summary_memory: str | None
    num_tokens_tool_usage_rules: int = 0
    tool_usage_rules: str | None
    num_tokens_directories: int = 0
    directories: str | None
    num_tokens_memory_filesystem: int = 0
    memory_filesystem: str | None
    num_tokens_functions_definitions: int
    functions_definitions: list[dict[str, Any]] | None
    num_tokens_messages: int
    messages: list[InternalMessageOut]


class AgentFileOut(Schema):
    id: str
    file_id: str
    file_name: str
    folder_id: str
    folder_name: str
    is_open: bool
    last_accessed_at: datetime | None
    visible_content: str | None
    start_line: int | None
    end_line: int | None

    @staticmethod
    def resolve_file_name(link) -> str:
        return link.file.file_name

    @staticmethod
    def resolve_folder_id(link) -> str:
        return link.file.folder_id

    @staticmethod
    def resolve_folder_name(link) -> str:
        return link.file.folder.name


class AgentFilesOut(Schema):
    files: list[AgentFileOut]
    next_cursor: str | None
    has_more: bool
