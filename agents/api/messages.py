"""/v1 routes for talking to agents: send messages (JSON, SSE stream, or async run), list and edit messages,
reset, cancel; runs and their messages, steps, usage and resumable event streams.

Turns go through agents.runs: `start_turn` records a Run, then it is executed (here, or on a worker when
`runs.runs_on_workers()`), and its events are read back with `runs.follow` (live) or `runs.wait` (to the end).

SSE framing (letta-api §2.6): one `data: <json>` line per event and a blank line; an initial ping carrying the
run id, more pings after 20 s of silence, `stop_reason` and `usage_statistics` at the end, errors as
`event: error`, then `data: [DONE]`.
"""

import asyncio
import contextlib
import json
import logging
import threading
import uuid

from django.db import close_old_connections, connection
from django.http import StreamingHttpResponse
from django.utils import timezone
from ninja import Query, Router
from ninja.errors import HttpError

from ade.dbretry import DATABASE_LOST, is_disconnect
from ade.errors import DomainError, Invalid, NotFound
from ade.pagination import paginate
from ade.wire import AgentId, MessageId, Page, RunId, collection_route
from agents import runs
from agents.api.message_schemas import (
    AsyncTurnIn,
    CancelIn,
    LettaMessageOut,
    LettaResponseOut,
    MessageEditIn,
    MessageType,
    RunOut,
    RunUsageOut,
    StepOut,
    StreamingTurnIn,
    StreamResumeIn,
)
from agents.conversations import messages_of
from agents.models import Message, Run
from agents.queries import get_agent_for, message_page
from agents.runtime.letta_messages import letta_response, to_letta_messages, usage_dict
from agents.runtime.turn_input import check_turn_input

log = logging.getLogger(__name__)
router = Router()
PING_SECONDS = 20
RELAY_FAILED = "Following this run failed (not the run itself): resume the stream with starting_after, or read the run."
SSE_DOC = {
    "responses": {
        200: {
            "description": "Server-sent events (text/event-stream): LettaMessages, then "
            "stop_reason, usage_statistics and [DONE].",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
}
OPTION_FIELDS = (
    "max_steps",
    "stream_tokens",
    "use_assistant_message",
    "assistant_message_tool_name",
    "assistant_message_tool_kwarg",
    "include_return_message_types",
    "client_tools",
    "include_compaction_messages",
)
REQUEST_CONFIG_FIELDS = (
    "use_assistant_message",
    "assistant_message_tool_name",
    "assistant_message_tool_kwarg",
    "include_return_message_types",
)


# ---------------------------------------------------------------------------------------------------------------
# Starting a turn


def _turn_items(payload) -> list[dict]:
    """The input messages: `messages`, or `input` as one user message. Exactly one must be given."""
    if (payload.messages is None) == (payload.input is None):
        raise HttpError(422, "Send exactly one of `messages` or `input`")
    if payload.messages is not None:
        if not payload.messages:
            raise HttpError(422, "messages must not be empty")
        return [m.dict(exclude_unset=True) for m in payload.messages]
    return [{"type": "message", "role": "user", "content": payload.input}]


def _refuse_unsupported(payload) -> None:
    for field in ("override_model", "override_system", "callback_url"):
        if getattr(payload, field, None):
            raise Invalid(f"{field} is not supported by this server", field=field)


def _start(request, agent_id: str, payload, *, background: bool = False, conversation=None) -> Run:
    """Check the input against the agent's (or `conversation`'s) messages (bad input → 4xx, pending approval →
    409) and record the Run."""
    _refuse_unsupported(payload)
    items = _turn_items(payload)
    agent = get_agent_for(request.auth, agent_id, action="chat")
    if conversation is not None:
        from agents.conversations import use_thread

        use_thread(agent, conversation.id)
    check_turn_input(agent, items)
    options = payload.dict(include=set(OPTION_FIELDS), exclude_none=True)
    config = payload.dict(include=set(REQUEST_CONFIG_FIELDS))
    return runs.start_turn(
        request.auth,
        agent,
        items,
        options=options,
        request_config=config,
        background=background,
        conversation=conversation,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )


def _launch(run: Run) -> None:
    """Get the run going without waiting for it: on a worker, or in a thread of this process."""
    if runs.runs_on_workers():
        runs.submit(run)
        return

    def execute():
        try:
            runs.submit(run)
        except Exception:  # recorded on the run; nobody is waiting on this thread
            log.exception("run %s failed", run.id)
        finally:
            connection.close()

    threading.Thread(target=execute, name=f"turn-{run.id}", daemon=True).start()


def _result(run: Run) -> dict:
    """The LettaResponse of a finished run. Runs that failed (model or server error) answer an error status."""
    if run.status == "failed" and run.stop_reason in ("error", "llm_api_error"):
        raise RunFailed(run)
    return (run.metadata or {}).get("result") or letta_response([], run.stop_reason or "error", run.usage)


def _reply(run: Run) -> dict:
    """Run the turn and answer with its LettaResponse once it has ended."""
    runs.submit(run)
    if getattr(run, "replayed", False) and run.status not in runs.ACTIVE:
        return _result(run)  # a retry of an ended turn: its row is final (its event log may never have been closed)
    return _result(runs.wait(run.id))


class RunFailed(DomainError):
    """A turn that ended in an error: 502 when the model provider failed, else 500. Its run id is in the text."""

    def __init__(self, run: Run):
        super().__init__(f"Run {run.id} failed: {run.error or run.stop_reason}")
        self.status = 502 if run.stop_reason == "llm_api_error" else 500


# ---------------------------------------------------------------------------------------------------------------
# SSE


def _frame(event: dict) -> str:
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str)
    if event.get("message_type") == "error_message":
        return f"event: error\ndata: {data}\n\n"
    return f"data: {data}\n\n"


def _ping(run_id: str, seq_id: int | None) -> dict:
    return {
        "id": f"ping-{uuid.uuid4()}",
        "date": timezone.now().replace(microsecond=0).isoformat(),
        "message_type": "ping",
        "run_id": run_id,
        "seq_id": seq_id,
    }


def _error_event(run_id: str, message: str, error_type: str) -> dict:
    return {
        "message_type": "error_message",
        "run_id": run_id,
        "error_type": error_type,
        "message": message,
        "detail": None,
        "seq_id": None,
    }


def _relay(run_id: str, starting_after: int, loop, queue) -> None:
    """Thread: put the run's events on the asyncio queue as they come, then how the stream ends."""
    put = lambda item: loop.call_soon_threadsafe(queue.put_nowait, item)  # noqa: E731
    try:
        for event in runs.follow(run_id, starting_after):
            put(event)
        run = Run.objects.filter(id=run_id).first()
        end = ("ended", run.status if run else None, run.error if run else "")
    except runs.ServerStopping:
        end = ("stopping",)
    except runs.EventsUnavailable as exc:
        end = ("unreadable", str(exc))
    except RuntimeError:  # the event loop is gone: the client left
        return
    except Exception as exc:  # following failed, not the run (it goes on, or has ended): the client resumes
        if not is_disconnect(exc):
            log.exception("relaying run %s failed", run_id)
        end = ("unreadable", DATABASE_LOST if is_disconnect(exc) else RELAY_FAILED)
    finally:
        close_old_connections()
        connection.close()
    with contextlib.suppress(RuntimeError):
        put(end)


async def _sse(run_id: str, starting_after: int, include_pings: bool):
    queue: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=_relay, args=(run_id, starting_after, loop, queue), daemon=True, name=f"sse-{run_id}"
    ).start()
    last_seq, saw_error = starting_after or None, False
    if include_pings:
        yield _frame(_ping(run_id, last_seq))
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), PING_SECONDS)
        except TimeoutError:
            if include_pings:
                yield _frame(_ping(run_id, last_seq))
            continue
        if item == ("stopping",):
            return  # this server is shutting down: no [DONE], so the client resumes on another one
        if isinstance(item, tuple) and item[0] == "unreadable":  # no [DONE] either: the turn may still end well
            yield _frame(_error_event(run_id, item[1], "service_unavailable"))
            return
        if isinstance(item, tuple):  # the end: report a failure the loop could not put into the stream
            _, status, error = item
            if status == "failed" and not saw_error:
                yield _frame(_error_event(run_id, error or "The run failed", "internal_error"))
            break
        last_seq = item.get("seq_id", last_seq)
        saw_error = saw_error or item.get("message_type") == "error_message"
        yield _frame(item)
    yield "data: [DONE]\n\n"


def sse_response(run_id: str, *, starting_after: int = 0, include_pings: bool = True) -> StreamingHttpResponse:
    if not connection.in_atomic_block:
        # A stream lasts as long as its turn, and Django gives a request's connection back only when the response
        # ends: hand it back now, so a hundred waiting streams do not drain the pool.
        connection.close()
    response = StreamingHttpResponse(_sse(run_id, starting_after, include_pings), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# ---------------------------------------------------------------------------------------------------------------
# Sending messages


@router.post(
    "/agents/{agent_id}/messages",
    response=LettaResponseOut,
    tags=["agents"],
    operation_id="send_message",
    openapi_extra={
        "responses": {
            200: {"description": "A LettaResponse, or with `streaming: true` an event stream (text/event-stream)."}
        }
    },
)
def send_message(request, agent_id: AgentId, payload: StreamingTurnIn):
    """Send messages and get the agent's reply. With `streaming: true` the reply is streamed as it happens."""
    if payload.streaming:
        return _stream(request, agent_id, payload)
    if payload.stream_tokens or payload.background or not payload.include_pings:
        raise HttpError(422, "stream_tokens, include_pings and background need streaming: true")
    return _reply(_start(request, agent_id, payload))


@router.post(
    "/agents/{agent_id}/messages/stream",
    tags=["agents"],
    operation_id="create_agent_message_stream",
    openapi_extra=SSE_DOC,
)
def stream_message(request, agent_id: AgentId, payload: StreamingTurnIn):
    """Send messages; the reply is an event stream (same as `streaming: true`)."""
    return _stream(request, agent_id, payload)


def _stream(request, agent_id: str, payload) -> StreamingHttpResponse:
    run = _start(request, agent_id, payload, background=payload.background)
    _launch(run)
    return sse_response(run.id, include_pings=payload.include_pings)


@router.post(
    "/agents/{agent_id}/messages/async", response=RunOut, tags=["agents"], operation_id="create_agent_message_async"
)
def send_message_async(request, agent_id: AgentId, payload: AsyncTurnIn):
    """Start a turn and answer at once with its Run; poll GET /v1/runs/{id}, then read its messages."""
    run = _start(request, agent_id, payload, background=True)
    _launch(run)
    return Run.objects.get(id=run.id)


@router.post(
    "/agents/{agent_id}/messages/cancel", response=dict[str, str], tags=["agents"], operation_id="cancel_agent_run"
)
def cancel(request, agent_id: AgentId, payload: CancelIn = None):
    """Cancel the agent's active runs (or only `run_ids`): {run_id: "cancelled"}; 409 when none is active."""
    return runs.cancel(request.auth, agent_id, payload.run_ids if payload else None)


# ---------------------------------------------------------------------------------------------------------------
# Reading and editing messages


class MessageListParams(Page):
    group_id: str | None = None
    conversation_id: str | None = None
    use_assistant_message: bool = True
    assistant_message_tool_name: str = "send_message"
    assistant_message_tool_kwarg: str = "message"
    include_err: bool | None = None
    include_return_message_types: list[MessageType] | None = None


def render_messages(rows, agent, params=None, *, newest_first: bool = False) -> list[dict]:
    """LettaMessages of stored rows, in the rows' order; with `newest_first` (rows newest first) the parts of each
    row are reversed too, so the whole list runs from newest to oldest."""
    options = {"text_is_assistant": agent.agent_type in ("letta_v1_agent", "sleeptime_agent")}
    if params is not None:
        options.update(
            use_assistant_message=params.use_assistant_message,
            assistant_message_tool_name=params.assistant_message_tool_name,
            assistant_message_tool_kwarg=params.assistant_message_tool_kwarg,
        )
    types = getattr(params, "include_return_message_types", None)
    out = []
    for row in rows:
        parts = [m for m in to_letta_messages(row, **options) if not types or m["message_type"] in types]
        out += parts[::-1] if newest_first else parts
    return out


@router.get(
    "/agents/{agent_id}/messages", response=list[LettaMessageOut], tags=["agents"], operation_id="list_messages"
)
def list_messages(request, agent_id: AgentId, params: Query[MessageListParams]):
    """Every message of the agent (newest first by default), as LettaMessages; `after`/`before` are message ids."""
    agent = get_agent_for(request.auth, agent_id)
    qs = Message.objects.filter(agent=agent)
    if params.conversation_id:  # one conversation's messages ("default": the agent's own list)
        from agents.conversations import resolve

        _agent, conv = resolve(request.auth, params.conversation_id, agent.id)
        if conv is not None and conv.agent_id != agent.id:
            raise NotFound("Conversation not found")
        qs = messages_of(agent, conv)
    if params.group_id:
        qs = qs.filter(group_id=params.group_id)
    if params.include_err is False:
        qs = qs.filter(is_err=False)
    plain = not (params.conversation_id or params.group_id or params.include_err is False)
    first = (lambda key, ascending, limit: message_page(agent.id, key, ascending, limit)) if plain else None
    rows = paginate(qs, params, default_limit=100, default_order="desc", key="seq", first_page=first)
    return render_messages(rows, agent, params, newest_first=(params.order or "desc") == "desc")


@router.patch(
    "/agents/{agent_id}/messages/{message_id}",
    response=list[LettaMessageOut],
    tags=["agents"],
    operation_id="modify_message",
)
def modify_message(request, agent_id: AgentId, message_id: MessageId, payload: MessageEditIn):
    """Change the text of a stored message; answers its LettaMessages."""
    from agents.actions import edit_message

    message = edit_message(request.auth, agent_id, message_id, payload.dict(exclude_unset=True))
    return render_messages([message], message.agent)


# ---------------------------------------------------------------------------------------------------------------
# Runs


class RunFilters(Page):
    agent_id: str | None = None
    agent_ids: list[str] | None = None
    statuses: list[str] | None = None
    stop_reason: str | None = None
    active: bool | None = None
    background: bool | None = None
    conversation_id: str | None = None


@collection_route(router, "get", "/runs/", response=list[RunOut], tags=["runs"], operation_id="list_runs")
def list_runs(request, f: Query[RunFilters]):
    """The organization's runs. As in Letta: `agent_id` wins over `agent_ids`, and `active=false` filters
    nothing (only `active=true` narrows to created/running runs)."""
    qs = Run.objects.filter(organization_id=request.auth.organization_id)
    agent_ids = [f.agent_id] if f.agent_id else f.agent_ids
    if agent_ids:
        qs = qs.filter(agent_id__in=agent_ids)
    if f.conversation_id:
        qs = qs.filter(conversation_id=f.conversation_id)
    if f.statuses:
        qs = qs.filter(status__in=f.statuses)
    if f.stop_reason:
        qs = qs.filter(stop_reason=f.stop_reason)
    if f.active:
        qs = qs.filter(status__in=runs.ACTIVE)
    if f.background is not None:
        qs = qs.filter(background=f.background)
    return paginate(qs, f, default_limit=100, default_order="desc")


@router.get("/runs/{run_id}", response=RunOut, tags=["runs"], operation_id="retrieve_run")
def retrieve_run(request, run_id: RunId):
    return runs.get_run_for(request.auth, run_id)


@router.get(
    "/runs/{run_id}/messages", response=list[LettaMessageOut], tags=["runs"], operation_id="list_messages_for_run"
)
def list_run_messages(request, run_id: RunId, page: Query[Page]):
    """The messages the run created (its input included), oldest first by default."""
    run = runs.get_run_for(request.auth, run_id)
    rows = paginate(Message.objects.filter(run=run), page, default_limit=100, default_order="asc", key="seq")
    options = run.request_config or {}
    return render_messages(rows, run.agent, _Options(options), newest_first=page.order == "desc")


class _Options:
    """The message rendering options a run was started with."""

    def __init__(self, config: dict):
        self.use_assistant_message = config.get("use_assistant_message", True)
        self.assistant_message_tool_name = config.get("assistant_message_tool_name") or "send_message"
        self.assistant_message_tool_kwarg = config.get("assistant_message_tool_kwarg") or "message"
        self.include_return_message_types = None


@router.get("/runs/{run_id}/steps", response=list[StepOut], tags=["runs"], operation_id="list_steps_for_run")
def list_run_steps(request, run_id: RunId, page: Query[Page]):
    run = runs.get_run_for(request.auth, run_id)
    return paginate(run.steps.all(), page, default_limit=100, default_order="asc")


@router.get("/runs/{run_id}/usage", response=RunUsageOut, tags=["runs"], operation_id="retrieve_run_usage")
def run_usage(request, run_id: RunId):
    usage = usage_dict(runs.get_run_for(request.auth, run_id).usage)
    return {
        **usage,
        "completion_tokens_details": {"reasoning_tokens": usage.get("reasoning_tokens")},
        "prompt_tokens_details": {"cached_tokens": usage.get("cached_input_tokens")},
    }


@router.post("/runs/{run_id}/stream", tags=["runs"], operation_id="retrieve_stream", openapi_extra=SSE_DOC)
def resume_stream(request, run_id: RunId, payload: StreamResumeIn = None):
    """The run's events after `starting_after` (a seq_id), then live ones until it ends."""
    payload = payload or StreamResumeIn()
    run = runs.get_run_for(request.auth, run_id)
    if run.is_finished and not runs.events_after(run.id, payload.starting_after) and payload.starting_after == 0:
        raise NotFound("This run's events are no longer kept")
    return sse_response(run.id, starting_after=payload.starting_after, include_pings=payload.include_pings is not False)


@router.get(
    "/messages/{message_id}", response=list[LettaMessageOut], tags=["messages"], operation_id="retrieve_message"
)
def retrieve_message(request, message_id: MessageId):
    message = (
        Message.objects.filter(id=message_id, organization_id=request.auth.organization_id)
        .select_related("agent")
        .first()
    )
    if message is None:
        raise NotFound("Message not found")
    return render_messages([message], message.agent)
