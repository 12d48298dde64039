"""/v1/evals (Engram only, not part of Letta's API): suites, starting and reading eval runs, their results,
cancelling. Reads need `read`, writes `edit` (accounts.routes: every other write)."""

from typing import Literal

from ninja import Field, Query, Router, Schema

from ade.pagination import paginate
from ade.wire import Page, RequestSchema, collection_route, id_path
from evals import actions
from evals.render import render_eval, render_result

router = Router(tags=["evals (Engram)"])
EvalId = id_path("eval")


class SuiteOut(Schema):
    name: str
    title: str
    description: str
    grader: str
    needs_model: bool = Field(..., description="False: the suite measures search; its models are embedding handles")
    builtin: bool
    samples: int | None = Field(None, description="rows available (None: generated, any number)")
    id: str | None = None


class SuiteIn(RequestSchema):
    name: str = Field(..., min_length=1, max_length=80)
    jsonl: str = Field(
        ...,
        min_length=1,
        max_length=5_000_000,
        description="one JSON object per line: input, "
        "ground_truth, optional agent_args.extra.facts (put in a core memory block)",
    )
    grader: Literal["contains", "exact", "judge"] = "contains"
    description: str = Field("", max_length=2000)


class EvalIn(RequestSchema):
    suite: str = Field(..., min_length=1, max_length=120)
    models: list[str] = Field(..., min_length=1, description="model handles (embedding handles for archival-retrieval)")
    samples: int | None = Field(None, ge=1, description="how many rows (default: all)")
    concurrency: int = Field(1, ge=1, le=actions.MAX_CONCURRENCY)
    target: dict | None = Field(
        None,
        description="the agent under test: agent_type, system, memory_blocks, tools, tool_rules, timezone, llm_config",
    )


class ModelSummary(Schema):
    score: float | None
    samples: int
    passed: int
    errors: int
    tokens: int
    p50_latency_ms: int | None
    cost: float | None
    modes: dict | None = None


class EvalOut(Schema):
    id: str
    suite: str
    models: list[str]
    target: dict
    options: dict
    samples: int
    concurrency: int
    status: Literal["created", "running", "completed", "cancelled", "failed"]
    done: int
    total: int
    summary: dict[str, ModelSummary]
    error: str | None
    created_by_id: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None


class ResultOut(Schema):
    id: int
    eval_id: str
    model: str
    index: int
    status: Literal["running", "done", "error", "cancelled"]
    agent_id: str | None = Field(..., description="the sample's agent: its messages are the transcript")
    transcript_url: str | None
    question: str
    expected: str
    answer: str
    score: float | None
    grade: dict
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    latency_ms: int | None
    cost: float | None
    error: str | None
    started_at: str | None
    completed_at: str | None


class ResultParams(Schema):
    model: str | None = Field(None, max_length=200)
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=1, le=1000)


@collection_route(router, "get", "/evals/suites/", response=list[SuiteOut], summary="List eval suites (Engram)")
def list_suites(request):
    """Built-in suites and the organization's own."""
    return actions.suites_for(request.auth)


@collection_route(router, "post", "/evals/suites/", response={201: SuiteOut}, summary="Add an eval suite (Engram)")
def add_suite(request, body: SuiteIn):
    from evals.suites import UserJsonlSuite

    suite = actions.add_suite(request.auth, **body.dict())
    return 201, UserJsonlSuite(suite).describe()


@collection_route(router, "get", "/evals/", response=list[EvalOut], summary="List evals (Engram)")
def list_evals(request, page: Query[Page]):
    return [render_eval(r) for r in paginate(actions.evals_for(request.auth), page)]


@collection_route(router, "post", "/evals/", response={201: EvalOut}, summary="Start an eval (Engram)")
def start_eval(request, body: EvalIn):
    """A fresh agent per sample and model; samples run in parallel up to `concurrency`. Progress: poll this eval,
    or watch its channel group on a page."""
    run = actions.start_eval(request.auth, **body.dict())
    return 201, render_eval(run)


@router.get("/evals/{eval_id}", response=EvalOut, summary="Retrieve an eval (Engram)")
def retrieve_eval(request, eval_id: EvalId):
    return render_eval(actions.get_eval_for(request.auth, eval_id))


@router.get("/evals/{eval_id}/results", response=list[ResultOut], summary="List an eval's results (Engram)")
def list_results(request, eval_id: EvalId, params: Query[ResultParams]):
    """Finished and playing samples, by model then sample index."""
    qs = actions.results_for(request.auth, eval_id, model=params.model)
    return [render_result(r) for r in qs[params.offset : params.offset + params.limit]]


@router.post("/evals/{eval_id}/cancel", response=EvalOut, summary="Cancel an eval (Engram)")
def cancel_eval(request, eval_id: EvalId):
    return render_eval(actions.cancel_eval(request.auth, eval_id))
