"""The Evals page: choose a suite, models, samples and concurrency; start; watch one eval live (its socket is
evals.pages.consumers); cancel; results per sample with a link to each sample agent's transcript; a chart of the
suite's runs over time. Every write goes through evals.actions."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from ade.errors import DomainError, Invalid, NotFound
from evals.actions import add_suite, cancel_eval, evals_for, get_eval_for, model_choices, start_eval, suites_for
from evals.models import GRADERS, EvalResult
from evals.render import render_eval, render_result

from .chart import score_chart

RECENT = 30  # runs listed on the page
MAX_ROWS = 500  # result rows drawn for one eval (the API pages through all of them)


def _index(user, suite: str | None = None, **extra) -> dict:
    suites = suites_for(user)
    names = [s["name"] for s in suites]
    suite = suite if suite in names else (names[0] if names else "")
    runs = list(evals_for(user)[:RECENT])
    finished = [r for r in evals_for(user).filter(suite=suite, status="completed")[:100]] if suite else []
    return {
        "suites": suites,
        "suite": suite,
        "models": model_choices(user, suite) if suite else [],
        "runs": runs,
        "chart": score_chart(finished),
        "graders": GRADERS,
        **extra,
    }


def _run(run) -> dict:
    results = EvalResult.objects.filter(run_id=run.id).order_by("model", "index")[:MAX_ROWS]
    return {"run": render_eval(run), "results": [render_result(r) for r in results], "more": run.total > MAX_ROWS}


@login_required
def eval_index(request):
    try:
        ctx = _index(request.user, request.GET.get("suite"))
    except NotFound:
        raise Http404("Not a member of this organization") from None
    return render(request, "evals/index.html", ctx)


@login_required
def eval_models(request):
    """The model checkboxes of the chosen suite (LLMs and the oracle, or embedding models), and its chart."""
    ctx = _index(request.user, request.GET.get("suite"))
    return render(request, "evals/_suite_choice.html", ctx)


def _number(data, name: str, default=None):
    raw = (data.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"{name} must be a whole number", field=name) from None


@login_required
@require_POST
def eval_start(request):
    data = request.POST
    try:
        run = start_eval(
            request.user,
            suite=data.get("suite", ""),
            models=data.getlist("models"),
            samples=_number(data, "samples"),
            concurrency=_number(data, "concurrency", 1),
        )
    except DomainError as exc:
        ctx = _index(request.user, data.get("suite"), start_error=exc.message, chosen=data.getlist("models"))
        return render(request, "evals/_start.html", ctx, status=exc.status)
    if not request.htmx:
        return redirect("evals:detail", run.id)
    return render(request, "evals/_run.html", _run(run))


@login_required
def eval_detail(request, eval_id):
    try:
        run = get_eval_for(request.user, eval_id)
    except NotFound:
        raise Http404("Eval not found") from None
    return render(request, "evals/detail.html", _run(run))


@login_required
@require_POST
def eval_cancel(request, eval_id):
    try:
        run = cancel_eval(request.user, eval_id)
        status = 200
    except NotFound:
        raise Http404("Eval not found") from None
    except DomainError as exc:  # finished meanwhile: show it as it is
        run, status = get_eval_for(request.user, eval_id), exc.status
    return render(request, "evals/_progress.html", {"run": render_eval(run)}, status=status)


@login_required
@require_POST
def suite_add(request):
    """A suite of the organization's own from an uploaded JSONL file and a grader; then the page shows it chosen."""
    data, upload = request.POST, request.FILES.get("jsonl")
    try:
        if upload is None:
            raise Invalid("jsonl: choose a JSONL file", field="jsonl")
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("jsonl: the file is not UTF-8 text", field="jsonl") from None
        suite = add_suite(
            request.user,
            name=data.get("name", ""),
            jsonl=text,
            grader=data.get("grader", "contains"),
            description=data.get("description", ""),
        )
    except DomainError as exc:
        ctx = _index(request.user, data.get("suite"), suite_error=exc.message, suite_form=data)
        return render(request, "evals/_add_suite.html", ctx, status=exc.status)
    target = f"{reverse('evals:index')}?{urlencode({'suite': suite.name})}"
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
