"""/v1/conversations: threads of an agent, each with its own in-context messages (agents/conversations.py).

Paths that take a conversation accept a `conv-` id, `default` with `agent_id` (the agent's own message list), or
an agent id (Letta's older spelling of `default`). Sending a message streams by default (`streaming: false` for
a LettaResponse).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Path, Query, Router, Schema
from ninja.errors import HttpError

from ade.errors import NotFound
from ade.ids import _UUID4
from ade.pagination import paginate
from ade.wire import Page, RequestSchema, collection_route, id_path
from agents import conversations as conversations_domain
from agents import runs
from agents.api.message_schemas import LettaMessageOut, LettaResponseOut, StreamResumeIn, TurnIn
from agents.api.messages import MessageListParams, _launch, _reply, _start, render_messages, sse_response
from agents.models import Conversation, Run

router = Router(tags=["conversations"])
ConversationId = id_path("conv")
ThreadId = Annotated[str, Path(pattern=f"^(default|conv-{_UUID4}|agent-{_UUID4})$", min_length=1, max_length=42)]


class ConversationOut(Schema):
    id: str
    agent_id: str
    summary: str | None
    in_context_message_ids: list[str]
    isolated_block_ids: list[str] = []
    model: str | None
    model_settings: dict[str, Any] | None
    last_message_at: datetime | None
    created_by_id: str | None
    last_updated_by_id: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_summary(conv) -> str | None:
        return conv.summary or None

    @staticmethod
    def resolve_model(conv) -> str | None:
        return conv.model or None

    @staticmethod
    def resolve_in_context_message_ids(conv) -> list[str]:
        return list(conv.message_ids or [])


class ConversationIn(RequestSchema):
    summary: str | None = Field(None, max_length=10_000)
    isolated_block_labels: list[str] | None = None
    model: str | None = Field(None, max_length=200)
    model_settings: dict[str, Any] | None = None


class ConversationPatch(RequestSchema):
    summary: str | None = Field(None, max_length=10_000)
    model: str | None = Field(None, max_length=200)
    model_settings: dict[str, Any] | None = None
    last_message_at: datetime | None = None


class ConversationListParams(Schema):
    agent_id: str | None = Field(None, max_length=100)
    limit: int = Field(50, ge=1, le=1000)
    after: str | None = Field(None, max_length=100)
    summary_search: str | None = Field(None, max_length=1000)
    order: Literal["asc", "desc"] = "desc"
    order_by: Literal["created_at", "last_run_completion", "last_message_at"] = "created_at"


class ConversationTurnIn(TurnIn):
    agent_id: str | None = Field(None, max_length=100)
    streaming: bool = True
    stream_tokens: bool = False
    include_pings: bool = True
    background: bool = False


class ConversationCompactionIn(RequestSchema):
    agent_id: str | None = Field(None, max_length=100)
    compaction_settings: dict[str, Any] | None = None


class CompactionOut(Schema):
    summary: str
    num_messages_before: int
    num_messages_after: int


class ThreadMessageParams(MessageListParams):
    agent_id: str | None = Field(None, max_length=100)


# ---------------------------------------------------------------------------------------------------------------
# The conversations


@collection_route(router, "post", "/conversations/", response=ConversationOut, operation_id="create_conversation")
def create_conversation(request, agent_id: Annotated[str, Query(max_length=100)], payload: ConversationIn = None):
    """A new conversation of the agent: its own message list, the agent's memory, tools and history."""
    body = payload.dict(exclude_unset=True) if payload else {}
    return conversations_domain.create_conversation(request.auth, agent_id, **body)


@collection_route(router, "get", "/conversations/", response=list[ConversationOut], operation_id="list_conversations")
def list_conversations(request, params: Query[ConversationListParams]):
    qs = conversations_domain.list_conversations(
        request.auth, agent_id=params.agent_id, summary_search=params.summary_search
    )
    key = "last_message_at" if params.order_by == "last_message_at" else "created_at"
    if params.order_by == "last_run_completion":
        key = "agent__last_run_completion"
    page = Page(after=params.after, limit=params.limit, order=params.order)
    if key != "created_at":  # a nullable key: order by it, without id cursors (Letta pages these by offset too)
        direction = "" if params.order == "asc" else "-"
        return list(qs.order_by(f"{direction}{key}", f"{direction}created_at", f"{direction}id")[: params.limit])
    return paginate(qs, page, default_limit=50, default_order="desc")


@router.get("/conversations/{conversation_id}", response=ConversationOut, operation_id="retrieve_conversation")
def retrieve_conversation(request, conversation_id: ConversationId):
    return conversations_domain.get_conversation_for(request.auth, conversation_id)


@router.patch("/conversations/{conversation_id}", response=ConversationOut, operation_id="update_conversation")
def update_conversation(request, conversation_id: ConversationId, payload: ConversationPatch):
    return conversations_domain.update_conversation(request.auth, conversation_id, payload.dict(exclude_unset=True))


@router.delete("/conversations/{conversation_id}", response=dict, operation_id="delete_conversation")
def delete_conversation(request, conversation_id: ConversationId):
    """Hide the conversation and cancel its turns; its messages stay in the agent's searchable history."""
    conversations_domain.delete_conversation(request.auth, conversation_id)
    return {"message": f"Conversation {conversation_id} deleted"}


@router.post("/conversations/{conversation_id}/fork", response=ConversationOut, operation_id="fork_conversation")
def fork_conversation(request, conversation_id: ThreadId, agent_id: Annotated[str | None, Query()] = None):
    """A new conversation starting from a copy of this one's in-context messages."""
    agent, conv = conversations_domain.resolve(request.auth, conversation_id, agent_id, action="edit")
    return conversations_domain.fork_conversation(request.auth, agent, conv)


@router.post("/conversations/{conversation_id}/cancel", response=dict[str, str], operation_id="cancel_conversation")
def cancel_conversation(request, conversation_id: ThreadId, agent_id: Annotated[str | None, Query()] = None):
    """Cancel the conversation's active turns: {run_id: "cancelled"}; {} when none is active."""
    agent, conv = conversations_domain.resolve(request.auth, conversation_id, agent_id, action="chat")
    return conversations_domain.cancel_conversation(request.auth, agent, conv)


@router.post("/conversations/{conversation_id}/recompile", response=str, operation_id="recompile_conversation")
def recompile_conversation(
    request, conversation_id: ThreadId, dry_run: bool = False, payload: ConversationCompactionIn = None
):
    """The system prompt compiled from the agent's memory now (shared by all its conversations); stored unless
    `dry_run`."""
    agent, _conv = conversations_domain.resolve(request.auth, conversation_id, payload and payload.agent_id)
    return conversations_domain.recompile(request.auth, agent, dry_run=dry_run)


@router.post("/conversations/{conversation_id}/compact", response=CompactionOut, operation_id="compact_conversation")
def compact_conversation(request, conversation_id: ThreadId, payload: ConversationCompactionIn = None):
    """Summarise the conversation's oldest in-context messages now."""
    agent, conv = conversations_domain.resolve(
        request.auth, conversation_id, payload and payload.agent_id, action="edit"
    )
    return conversations_domain.compact(request.auth, agent, conv, payload and payload.compaction_settings)


# ---------------------------------------------------------------------------------------------------------------
# Messages


@router.get(
    "/conversations/{conversation_id}/messages",
    response=list[LettaMessageOut],
    operation_id="list_conversation_messages",
)
def list_conversation_messages(request, conversation_id: ThreadId, params: Query[ThreadMessageParams]):
    """The conversation's messages (newest first by default), as LettaMessages."""
    agent, conv = conversations_domain.resolve(request.auth, conversation_id, params.agent_id)
    qs = conversations_domain.messages_of(agent, conv)
    if params.group_id:
        qs = qs.filter(group_id=params.group_id)
    if params.include_err is False:
        qs = qs.filter(is_err=False)
    rows = paginate(qs, params, default_limit=100, default_order="desc", key="seq")
    return render_messages(rows, agent, params, newest_first=(params.order or "desc") == "desc")


@router.post(
    "/conversations/{conversation_id}/messages",
    response=LettaResponseOut,
    operation_id="send_conversation_message",
    openapi_extra={"responses": {200: {"description": "An event stream, or with `streaming: false` a LettaResponse."}}},
)
def send_conversation_message(request, conversation_id: ThreadId, payload: ConversationTurnIn):
    """Send messages to the conversation; the reply streams (server-sent events) unless `streaming` is false."""
    agent, conv = conversations_domain.resolve(request.auth, conversation_id, payload.agent_id, action="chat")
    if not payload.streaming and (payload.stream_tokens or payload.background or not payload.include_pings):
        raise HttpError(422, "stream_tokens, include_pings and background need streaming: true")
    run = _start(request, agent.id, payload, background=payload.streaming and payload.background, conversation=conv)
    conversations_domain.touch(conv)
    if not payload.streaming:
        return _reply(run)
    _launch(run)
    return sse_response(run.id, include_pings=payload.include_pings)


@router.post("/conversations/{conversation_id}/stream", operation_id="retrieve_conversation_stream")
def retrieve_conversation_stream(request, conversation_id: ThreadId, payload: StreamResumeIn = None):
    """The events of the conversation's current (else latest) turn after `starting_after`, live until it ends;
    or of `run_id` / the run started by the message with `otid`."""
    payload = payload or StreamResumeIn()
    agent, conv = conversations_domain.resolve(request.auth, conversation_id, payload.agent_id)
    run = _thread_run(agent, conv, payload)
    if run.is_finished and not runs.events_after(run.id, payload.starting_after) and payload.starting_after == 0:
        raise NotFound("This run's events are no longer kept")
    return sse_response(run.id, starting_after=payload.starting_after, include_pings=payload.include_pings is not False)


def _thread_run(agent, conv: Conversation | None, payload) -> Run:
    qs = Run.objects.filter(agent=agent, conversation=conv)
    if payload.run_id:
        qs = qs.filter(id=payload.run_id)
    elif payload.otid:
        qs = qs.filter(messages__otid=payload.otid).distinct()
    run = qs.filter(status__in=runs.ACTIVE).order_by("-created_at").first() or qs.order_by("-created_at").first()
    if run is None:
        raise NotFound("No run found for this conversation")
    return run
