"""What entry points (the /v1 routes, the Evals page, `manage.py eval`) call: suites, starting, reading and
cancelling evals. Organization-scoped: `read` to see, `edit` to start, cancel or add a suite."""

import logging

from django.db import transaction

from accounts.audit import record
from accounts.permissions import check, role_in
from ade.errors import Conflict, Invalid, NotFound
from evals import runner
from evals.events import eval_group
from evals.models import GRADERS, EvalResult, EvalRun, UserSuite
from evals.suites import BUILTIN, all_suites, get_suite
from evals.suites.base import parse_jsonl, read_jsonl

log = logging.getLogger(__name__)
MAX_SAMPLES = 2000
MAX_CONCURRENCY = 32
MAX_MODELS = 8


def suites_for(user) -> list[dict]:
    """Every suite the user's organization can run: built-in ones first, then its own."""
    check(user, "read")
    org_id = user.organization_id
    return [suite.describe() | {"samples": _row_count(suite, org_id)} for suite in all_suites(org_id)]


def _row_count(suite, org_id: str) -> int | None:
    return suite.available(EvalRun(organization_id=org_id, suite=suite.name, options={}, samples=1))


def model_choices(user, suite: str) -> list[str]:
    """The handles a person may pick for `suite`: the configured LLMs and the oracle, or embedding models for a suite
    that measures search alone."""
    from agents.runtime.providers import ORACLE_HANDLE, embedding_handles, llm_handles

    check(user, "read")
    if not get_suite(user.organization_id, suite).needs_model:
        return embedding_handles()
    return [ORACLE_HANDLE, *llm_handles(user.organization_id)]


def add_suite(user, *, name: str, jsonl: str, grader: str = "contains", description: str = "") -> UserSuite:
    """A suite of the organization's own: JSONL rows (`input`, `ground_truth`, optional `agent_args.extra.facts`)."""
    check(user, "edit")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 80:
        raise Invalid("name must be 1 to 80 characters", field="name")
    name = name.strip()
    if name in BUILTIN:
        raise Conflict(f"{name!r} is a built-in suite", field="name")
    if grader not in GRADERS:
        raise Invalid(f"grader must be one of {', '.join(GRADERS)}", field="grader")
    rows = parse_jsonl(jsonl or "", field="jsonl")
    if any(not isinstance(r.get("ground_truth"), str) or not r["ground_truth"].strip() for r in rows):
        raise Invalid("every row needs a non-empty string 'ground_truth'", field="jsonl")
    with transaction.atomic():
        if UserSuite.objects.filter(organization_id=user.organization_id, name=name).exists():
            raise Conflict(f"a suite named {name!r} exists already", field="name")
        suite = UserSuite.objects.create(
            organization_id=user.organization_id,
            name=name,
            description=description or "",
            grader=grader,
            rows=rows,
            created_by=user,
        )
        record(user.organization_id, user, "eval_suite.create", object_id=suite.id, summary=name)
    return suite


def start_eval(
    user,
    *,
    suite: str,
    models: list[str],
    samples: int | None = None,
    concurrency: int = 1,
    target: dict | None = None,
    file: str | None = None,
    launch: bool = True,
) -> EvalRun:
    """Record an eval (one pending result per model × sample) and, with `launch`, get it going after commit.
    Bad input is a 400/404 naming the field; nothing is written then. `file`: a JSONL path on the server (the
    command line; suites that read a data file)."""
    check(user, "edit")
    chosen = get_suite(user.organization_id, suite)
    models = _checked_models(models, chosen, user.organization_id)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise Invalid(f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}", field="concurrency")
    if target is not None and not isinstance(target, dict):
        raise Invalid("target must be an object (a partial agent spec)", field="target")
    _check_target(target or {})
    options = {}
    if file:
        read_jsonl(file, field="file")
        options["file"] = str(file)
    probe = EvalRun(organization_id=user.organization_id, suite=suite, options=options, samples=samples or 1)
    limit = min(chosen.available(probe) or MAX_SAMPLES, MAX_SAMPLES)
    samples = (chosen.default_samples or limit) if samples is None else samples
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= limit:
        raise Invalid(f"samples must be a whole number from 1 to {limit}", field="samples")
    with transaction.atomic():
        run = EvalRun.objects.create(
            organization_id=user.organization_id,
            created_by=user,
            suite=suite,
            model_handles=models,
            target=target or {},
            options=options,
            samples=samples,
            concurrency=concurrency,
            total=samples * len(models),
        )
        EvalResult.objects.bulk_create([EvalResult(run=run, model=m, index=i) for m in models for i in range(samples)])
        record(user.organization_id, user, "eval.start", object_id=run.id, summary=f"{suite} × {', '.join(models)}")
        if launch:
            runner.launch(run)
    return run


def _checked_models(models, suite, org_id: str) -> list[str]:
    from agents.runtime.providers import resolve_embedding, resolve_llm

    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise Invalid("models must be a non-empty list of model handles", field="models")
    if len(models) > MAX_MODELS or len(set(models)) != len(models):
        raise Invalid(f"models must be at most {MAX_MODELS} different handles", field="models")
    for handle in models:
        try:
            (resolve_llm if suite.needs_model else resolve_embedding)(handle, org_id=org_id)
        except (Invalid, NotFound) as exc:
            raise Invalid(f"models: {exc}", field="models") from exc
    return models


TARGET_FIELDS = {"agent_type", "system", "memory_blocks", "tools", "tool_rules", "timezone", "llm_config"}


def _check_target(target: dict) -> None:
    unknown = sorted(set(target) - TARGET_FIELDS)
    if unknown:
        raise Invalid(
            f"target: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(TARGET_FIELDS))}",
            field="target",
        )
    if "memory_blocks" in target and not isinstance(target["memory_blocks"], list):
        raise Invalid("target.memory_blocks must be a list", field="target.memory_blocks")
    if "tools" in target and not (
        isinstance(target["tools"], list) and all(isinstance(t, str) for t in target["tools"])
    ):
        raise Invalid("target.tools must be a list of tool names", field="target.tools")


def evals_for(user):
    """The organization's evals, newest first (empty when the user is not a member)."""
    if role_in(user) is None:
        return EvalRun.objects.none()
    return EvalRun.objects.filter(organization_id=user.organization_id)


def get_eval_for(user, eval_id: str, *, action: str = "read") -> EvalRun:
    """The eval if the user may see it (else 404), then 403 unless their role allows `action`."""
    run = evals_for(user).filter(id=eval_id).first()
    if run is None:
        raise NotFound("Eval not found")
    check(user, action, run.organization_id)
    if run.status in ("created", "running"):
        runner.recover(run.id)
        run.refresh_from_db()
    return run


def results_for(user, eval_id: str, *, model: str | None = None):
    run = get_eval_for(user, eval_id)
    qs = EvalResult.objects.filter(run=run).exclude(status="pending")
    return qs.filter(model=model) if model else qs


def cancel_eval(user, eval_id: str) -> EvalRun:
    """Stop an eval: no new sample starts; a playing one stops at its next turn (its running turn is cancelled)."""
    from agents.runs import cancel

    run = get_eval_for(user, eval_id, action="edit")
    with transaction.atomic():
        changed = EvalRun.objects.filter(id=run.id, status__in=("created", "running")).update(status="cancelled")
        if not changed:
            raise Conflict(f"The eval is {run.status} already", current=run.status)
        EvalResult.objects.filter(run=run, status="pending").update(status="cancelled")
        record(run.organization_id, user, "eval.cancel", object_id=run.id, summary=run.suite)
    for agent_id in EvalResult.objects.filter(run=run, status="running", agent__isnull=False).values_list(
        "agent_id", flat=True
    ):
        try:
            cancel(user, agent_id)
        except Exception as exc:  # the turn ended meanwhile or its agent went: the sample stops at its next turn
            log.info("eval %s: cancelling the turn of %s: %s", run.id, agent_id, exc)
    runner.finish_cancelled(run.id)
    return EvalRun.objects.get(id=run.id)


__all__ = [
    "add_suite",
    "cancel_eval",
    "eval_group",
    "evals_for",
    "get_eval_for",
    "model_choices",
    "results_for",
    "start_eval",
    "suites_for",
]
