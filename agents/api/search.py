"""/v1 routes over the messages of every agent you can see: the org-wide list and search."""

from datetime import datetime
from typing import Literal

from ninja import Field, Query, Router, Schema

from ade.pagination import paginate
from ade.wire import Page, RequestSchema, collection_route
from agents.api.message_schemas import LettaMessageOut, MessageType
from agents.api.messages import render_messages
from agents.message_search import search_messages
from agents.models import Message
from agents.queries import agents_for

router = Router()


class AllMessagesParams(Page):
    conversation_id: str | None = None
    use_assistant_message: bool = True
    assistant_message_tool_name: str = "send_message"
    assistant_message_tool_kwarg: str = "message"
    include_return_message_types: list[MessageType] | None = None


class MessageSearchIn(RequestSchema):
    query: str = Field(..., min_length=1, max_length=10_000)
    search_mode: Literal["vector", "fts", "hybrid"] = "hybrid"
    agent_id: str | None = Field(None, max_length=64)
    conversation_id: str | None = Field(None, max_length=64)
    limit: int = Field(50, ge=1, le=1000)
    start_date: datetime | None = None
    end_date: datetime | None = None


class MessageSearchResult(Schema):
    message_type: Literal["user_message", "assistant_message", "reasoning_message", "system_message"]
    message_id: str
    agent_id: str | None
    conversation_id: str | None
    created_at: datetime
    content: str | None = None
    reasoning: str | None = None


@collection_route(
    router, "get", "/messages/", response=list[LettaMessageOut], tags=["messages"], operation_id="list_all_messages"
)
def list_all_messages(request, params: Query[AllMessagesParams]):
    """Messages of every agent you can see (newest first by default); `after`/`before` are message ids."""
    qs = Message.objects.filter(agent__in=agents_for(request.auth)).select_related("agent")
    if params.conversation_id:
        qs = qs.filter(conversation_id=params.conversation_id)
    rows = paginate(qs, params, default_limit=100, default_order="desc", key="seq")
    newest_first = (params.order or "desc") == "desc"
    out = []
    for row in rows:
        out += render_messages([row], row.agent, params, newest_first=newest_first)
    return out


@router.post(
    "/messages/search", response=list[MessageSearchResult], tags=["messages"], operation_id="search_all_messages"
)
def search_all_messages(request, payload: MessageSearchIn):
    """What people and agents said, by words (fts), meaning (vector) or both (hybrid), best first."""
    return search_messages(
        request.auth,
        payload.query,
        search_mode=payload.search_mode,
        agent_id=payload.agent_id,
        conversation_id=payload.conversation_id,
        limit=payload.limit,
        start=payload.start_date,
        end=payload.end_date,
    )
