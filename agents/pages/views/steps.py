"""A turn's provider traces: what each of its steps sent to the model and what came back (secrets were redacted
when the step was stored), opened from the turn's footer in the chat."""

import json

from django.http import Http404
from django.shortcuts import render

from agents.models import Run
from agents.pages.views.common import agent_view


@agent_view
def run_trace(request, agent, run_id):
    run = Run.objects.filter(id=run_id, agent=agent).first()
    if run is None:
        raise Http404("Run not found")
    steps = [
        {
            "step": step,
            "request": json.dumps((step.trace or {}).get("request_json"), indent=2, ensure_ascii=False),
            "response": json.dumps((step.trace or {}).get("response_json"), indent=2, ensure_ascii=False),
        }
        for step in run.steps.order_by("created_at", "id")
    ]
    return render(request, "agents/trace.html", {"agent": agent, "run": run, "steps": steps})
