"""The wire shape of evals and their results (the /v1 routes, the page and the progress events share it)."""


def _iso(when):
    return when.isoformat() if when else None


def render_eval(run) -> dict:
    return {
        "id": run.id,
        "suite": run.suite,
        "models": list(run.model_handles),
        "target": run.target,
        "options": {k: v for k, v in (run.options or {}).items() if k != "agents"},
        "samples": run.samples,
        "concurrency": run.concurrency,
        "status": run.status,
        "done": run.done,
        "total": run.total,
        "summary": run.summary,
        "error": run.error or None,
        "created_by_id": run.created_by_id,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "completed_at": _iso(run.completed_at),
    }


def render_result(result) -> dict:
    return {
        "id": result.id,
        "eval_id": result.run_id,
        "model": result.model,
        "index": result.index,
        "status": result.status,
        "agent_id": result.agent_id,
        "transcript_url": f"/agents/{result.agent_id}/" if result.agent_id else None,
        "question": result.question,
        "expected": result.expected,
        "answer": result.answer,
        "score": result.score,
        "grade": result.grade,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.total_tokens,
        "latency_ms": result.latency_ms,
        "cost": result.cost,
        "error": result.error or None,
        "started_at": _iso(result.started_at),
        "completed_at": _iso(result.completed_at),
    }
