"""/v1 routes of steps (one model call of a run each): list, retrieve, their messages, timings, feedback, and the
provider trace (what the step sent to the model and got back, secrets redacted); `runs.trace` gathers a run's."""

from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from ninja import Field, Query, Router, Schema

from accounts.audit import record
from accounts.permissions import check
from ade.errors import NotFound
from ade.pagination import paginate
from ade.wire import Page, RequestSchema, RunId, collection_route, id_path
from agents import runs
from agents.api.message_schemas import LettaMessageOut, StepOut
from agents.api.messages import render_messages
from agents.models import Message, Step
from agents.queries import agents_for

router = Router()
StepId = id_path("step")
Feedback = Literal["positive", "negative"]


class StepDetailOut(StepOut):
    organization_id: str
    feedback: Feedback | None = None
    project_id: str | None = None

    @staticmethod
    def resolve_feedback(step) -> str | None:
        return step.feedback or None


class StepFilters(Page):
    agent_id: str | None = None
    model: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    feedback: Feedback | None = None
    has_feedback: bool | None = None
    tags: list[str] | None = None
    trace_ids: list[str] | None = None
    project_id: str | None = None


class FeedbackIn(RequestSchema):
    feedback: Feedback | None = None
    tags: list[Any] | None = Field(None, max_length=100)


class StepMetricsOut(Schema):
    id: str
    organization_id: str
    agent_id: str
    run_id: str | None
    provider_id: str | None = None
    step_start_ns: int | None = None
    llm_request_start_ns: int | None = None
    llm_request_ns: int | None
    tool_execution_ns: int | None
    step_ns: int | None
    base_template_id: str | None = None
    template_id: str | None = None
    project_id: str | None = None


class ProviderTraceOut(Schema):
    id: str
    step_id: str
    run_id: str | None
    agent_id: str
    org_id: str
    request_json: dict[str, Any]
    response_json: dict[str, Any]
    call_type: str = "agent_step"
    source: str = "engram"
    created_at: datetime


def steps_for(user):
    """Steps of the agents the user may see (the one access rule, agents_for)."""
    return Step.objects.filter(agent__in=agents_for(user))


def get_step_for(user, step_id: str) -> Step:
    step = steps_for(user).filter(id=step_id).first()
    if step is None:
        raise NotFound(f"Step {step_id} not found")
    return step


def trace_of(step: Step) -> dict | None:
    if not step.trace:
        return None
    return {
        "id": f"provider_trace-{step.id.removeprefix('step-')}",
        "step_id": step.id,
        "run_id": step.run_id,
        "agent_id": step.agent_id,
        "org_id": step.organization_id,
        "created_at": step.created_at,
        **step.trace,
    }


@collection_route(router, "get", "/steps/", response=list[StepDetailOut], tags=["steps"], operation_id="list_steps")
def list_steps(request, f: Query[StepFilters]):
    qs = steps_for(request.auth)
    if f.agent_id:
        qs = qs.filter(agent_id=f.agent_id)
    if f.model:
        qs = qs.filter(model=f.model)
    if f.start_date:
        qs = qs.filter(created_at__gte=f.start_date)
    if f.end_date:
        qs = qs.filter(created_at__lte=f.end_date)
    if f.feedback:
        qs = qs.filter(feedback=f.feedback)
    if f.has_feedback is not None:
        qs = qs.exclude(feedback="") if f.has_feedback else qs.filter(feedback="")
    if f.tags:
        wanted = set(f.tags)
        qs = qs.filter(id__in=[pk for pk, tags in qs.values_list("id", "tags") if wanted & set(tags or [])])
    return paginate(qs.defer("trace"), f, default_limit=50, default_order="desc")


@router.get("/steps/{step_id}", response=StepDetailOut, tags=["steps"], operation_id="retrieve_step")
def retrieve_step(request, step_id: StepId):
    return get_step_for(request.auth, step_id)


@router.get(
    "/steps/{step_id}/messages", response=list[LettaMessageOut], tags=["steps"], operation_id="list_messages_for_step"
)
def step_messages(request, step_id: StepId, page: Query[Page]):
    step = get_step_for(request.auth, step_id)
    rows = paginate(Message.objects.filter(step=step), page, default_limit=100, default_order="asc", key="seq")
    return render_messages(rows, step.agent, newest_first=page.order == "desc")


@router.get(
    "/steps/{step_id}/metrics", response=StepMetricsOut, tags=["steps"], operation_id="retrieve_metrics_for_step"
)
def step_metrics(request, step_id: StepId):
    return get_step_for(request.auth, step_id)


@router.patch(
    "/steps/{step_id}/feedback", response=StepDetailOut, tags=["steps"], operation_id="modify_feedback_for_step"
)
def step_feedback(request, step_id: StepId, payload: FeedbackIn):
    """Record a thumbs up or down (and tags) on a step; `feedback: null` clears it."""
    check(request.auth, "edit")
    changes = payload.dict(exclude_unset=True)
    with transaction.atomic():
        step = steps_for(request.auth).select_for_update().filter(id=step_id).first()
        if step is None:
            raise NotFound(f"Step {step_id} not found")
        if "feedback" in changes:
            step.feedback = changes["feedback"] or ""
        if changes.get("tags") is not None:
            step.tags = sorted({str(t) for t in changes["tags"]})
        step.save(update_fields=["feedback", "tags"])
        record(
            step.organization_id, request.auth, "step.feedback", object_id=step.id, summary=step.feedback or "cleared"
        )
    return step


@router.get(
    "/steps/{step_id}/trace", response=ProviderTraceOut | None, tags=["steps"], operation_id="retrieve_trace_for_step"
)
def step_trace(request, step_id: StepId):
    return trace_of(get_step_for(request.auth, step_id))


@router.get("/runs/{run_id}/trace", response=list[dict[str, Any]], tags=["runs"], operation_id="retrieve_trace_for_run")
def run_trace(request, run_id: RunId, limit: int = 1000):
    """The provider traces of the run's steps, oldest first (at most `limit`, up to 1000)."""
    run = runs.get_run_for(request.auth, run_id)
    steps = run.steps.filter(trace__isnull=False).order_by("created_at", "id")[: max(1, min(limit, 1000))]
    return [trace_of(s) for s in steps]
