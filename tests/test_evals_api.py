"""/v1/evals: permissions (other organization 404, viewer 403), bad input (4xx naming the field, nothing written),
cancelling, and the runs on real Celery workers with concurrency > 1."""

import pytest

from evals.models import EvalResult, EvalRun


@pytest.fixture
def viewer_api(org):
    from accounts.actions import create_api_key, create_user
    from tests.apiclient import ApiClient

    vera = create_user("vera", "correct horse battery", organization=org, role="viewer")
    return ApiClient(create_api_key(vera, "tests")[1])


def start(api, **body):
    return api.post("/v1/evals/", {"suite": "core-memory-read", "models": ["engram/oracle"], "samples": 2, **body})


@pytest.mark.django_db
def test_bad_input_names_the_field_and_writes_nothing(alice_api):
    cases = [
        ({"suite": "no-such-suite"}, 404, "suite"),
        ({"models": ["nobody/nothing"]}, 400, "models"),
        ({"models": []}, 422, "models"),
        ({"samples": 100_000}, 400, "samples"),
        ({"samples": 0}, 422, "samples"),
        ({"concurrency": 0}, 422, "concurrency"),
        ({"target": {"colour": "red"}}, 400, "target"),
        ({"target": {"memory_blocks": "x"}}, 400, "memory_blocks"),
        ({"surprise": 1}, 422, "surprise"),
    ]
    for body, status, field in cases:
        response = start(alice_api, **body)
        assert response.status_code == status, (body, response.content)
        assert field in response.content.decode(), (body, response.content)
    bad_suite = alice_api.post("/v1/evals/suites/", {"name": "x", "jsonl": "not json"})
    assert bad_suite.status_code == 400 and "jsonl" in bad_suite.json()["detail"]
    builtin = alice_api.post(
        "/v1/evals/suites/", {"name": "core-memory-read", "jsonl": '{"input": "a", "ground_truth": "b"}'}
    )
    assert builtin.status_code == 409
    assert alice_api.get("/v1/evals/eval-not-an-id").status_code == 422
    assert EvalRun.objects.count() == 0 and EvalResult.objects.count() == 0


@pytest.mark.django_db
def test_other_organizations_see_nothing_and_viewers_only_read(alice_api, mallory_api, viewer_api):
    response = start(alice_api)
    assert response.status_code == 201, response.content
    eval_id = response.json()["id"]
    assert response.json()["status"] == "created" and response.json()["total"] == 2  # launched after commit
    for path in (f"/v1/evals/{eval_id}", f"/v1/evals/{eval_id}/results"):
        assert mallory_api.get(path).status_code == 404
        assert viewer_api.get(path).status_code == 200
    assert mallory_api.post(f"/v1/evals/{eval_id}/cancel").status_code == 404
    assert mallory_api.get("/v1/evals/").json() == []
    assert [e["id"] for e in viewer_api.get("/v1/evals/").json()] == [eval_id]
    assert viewer_api.post(f"/v1/evals/{eval_id}/cancel").status_code == 403
    assert start(viewer_api).status_code == 403
    assert (
        viewer_api.post("/v1/evals/suites/", {"name": "v", "jsonl": '{"input": "a", "ground_truth": "b"}'}).status_code
        == 403
    )

    cancelled = alice_api.post(f"/v1/evals/{eval_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert set(EvalResult.objects.filter(run_id=eval_id).values_list("status", flat=True)) == {"cancelled"}
    assert alice_api.post(f"/v1/evals/{eval_id}/cancel").status_code == 409


@pytest.mark.django_db
def test_evals_are_in_the_openapi_document(alice_api):
    paths = alice_api.get("/v1/openapi.json").json()["paths"]
    for path in ("/v1/evals/", "/v1/evals/suites/", "/v1/evals/{eval_id}", "/v1/evals/{eval_id}/results",
                 "/v1/evals/{eval_id}/cancel"):  # fmt: skip
        assert path in paths, path
    assert paths["/v1/evals/"]["post"]["tags"] == ["evals (Engram)"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_eval_on_celery_workers(alice, scripted_llm, celery_workers):
    """Samples run on the two real workers, at most `concurrency` at a time, and the oracle still scores 100%."""
    from agents.runs import runs_on_workers
    from evals import actions, runner

    assert runs_on_workers()
    run = actions.start_eval(alice, suite="core-memory-update", models=["engram/oracle"], samples=8, concurrency=2)
    done = runner.wait(run.id, poll=0.2)
    assert done.status == "completed", celery_workers.logs()
    assert done.summary["engram/oracle"]["score"] == 100.0 and done.done == 8
    assert run.id not in runner._threads  # nothing ran in this process
    spans = [(r.started_at, r.completed_at) for r in done.results.all()]
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most <= 2


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_cancel_an_eval_running_on_workers(alice_api, scripted_llm, celery_workers):
    """Cancelled while samples play on the workers: no new sample starts, the playing ones stop, the page's reads
    show it cancelled."""
    import time

    scripted_llm.queue({"delay_ms": 150, "repeat": 400})  # every answer slowed (still the oracle's answer)
    started = alice_api.post(
        "/v1/evals/", {"suite": "core-memory-update", "models": ["engram/oracle"], "samples": 12, "concurrency": 2}
    )
    eval_id = started.json()["id"]
    deadline = time.monotonic() + 120
    while alice_api.get(f"/v1/evals/{eval_id}").json()["done"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    cancelled = alice_api.post(f"/v1/evals/{eval_id}/cancel").json()
    assert cancelled["status"] == "cancelled"
    while EvalResult.objects.filter(run_id=eval_id, status="running").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    statuses = list(EvalResult.objects.filter(run_id=eval_id).values_list("status", flat=True))
    assert "running" not in statuses and statuses.count("cancelled") >= 6, statuses
    errors = list(EvalResult.objects.filter(run_id=eval_id, status="error").values_list("error", flat=True))
    assert set(statuses) <= {"done", "cancelled"}, errors
    assert alice_api.get(f"/v1/evals/{eval_id}").json()["status"] == "cancelled"


@pytest.mark.django_db
def test_sample_counts_default_to_the_suite(alice_api):
    suites = {s["name"]: s for s in alice_api.get("/v1/evals/suites/").json()}
    assert suites["core-memory-read"]["samples"] == 300 and suites["compaction-integrity"]["samples"] is None
    every = alice_api.post("/v1/evals/", {"suite": "core-memory-read", "models": ["engram/oracle", "engram/scripted"]})
    assert every.json()["total"] == 600  # 300 rows × 2 models
    generated = alice_api.post("/v1/evals/", {"suite": "compaction-integrity", "models": ["engram/oracle"]})
    assert generated.json()["samples"] == 10
    assert start(alice_api, samples=301).json()["detail"].startswith("samples must be a whole number from 1 to 300")
