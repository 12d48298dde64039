"""The Evals page (#16 surfaces): the suite's model choices, starting an eval (bad input named, nothing written),
one eval's results, cancel, the chart, and the socket's progress HTML; viewers may look but not start."""

import pytest
from django.urls import reverse

from accounts.actions import create_user
from evals.models import EvalResult, EvalRun
from evals.pages.chart import score_chart
from evals.pages.consumers import render_progress

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def test_index_offers_suites_models_and_links_in_the_menu(signed_in):
    page = signed_in.get(reverse("evals:index"))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'value="core-memory-read"' in body and 'value="engram/oracle"' in body
    assert 'href="/evals/"' in body  # the navigation
    models = signed_in.get(reverse("evals:models"), {"suite": "archival-retrieval"}, HTTP_HX_REQUEST="true")
    assert "engram/oracle" not in models.content.decode() and 'name="models"' in models.content.decode()


def test_start_refuses_bad_input_and_writes_nothing(signed_in):
    url = reverse("evals:start")
    bad = signed_in.post(
        url, {"suite": "core-memory-read", "models": ["engram/oracle"], "samples": "ten"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 400 and "samples must be a whole number" in bad.content.decode()
    none = signed_in.post(url, {"suite": "core-memory-read", "samples": "2"}, HTTP_HX_REQUEST="true")
    assert none.status_code == 400 and "models" in none.content.decode()
    assert not EvalRun.objects.exists()


def test_start_show_cancel(signed_in):
    # (in a non-transactional test the eval is recorded but never launched: on-commit hooks do not fire)
    started = signed_in.post(
        reverse("evals:start"),
        {"suite": "core-memory-read", "models": ["engram/oracle"], "samples": "3", "concurrency": "2"},
        HTTP_HX_REQUEST="true",
    )
    assert started.status_code == 200
    run = EvalRun.objects.get()
    assert (run.samples, run.concurrency, run.model_handles) == (3, 2, ["engram/oracle"])
    body = started.content.decode()
    assert f'ws-connect="/ws/evals/{run.id}/"' in body and body.count('id="eval-result-') == 3
    cancelled = signed_in.post(reverse("evals:cancel", args=[run.id]), HTTP_HX_REQUEST="true")
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.content.decode()
    again = signed_in.post(reverse("evals:cancel", args=[run.id]), HTTP_HX_REQUEST="true")
    assert again.status_code == 409
    detail = signed_in.get(reverse("evals:detail", args=[run.id]))
    assert detail.status_code == 200 and "cancelled" in detail.content.decode()


def test_viewers_see_but_cannot_start(client, org, alice):
    viewer = create_user("vic", "correct horse battery", organization=org, role="viewer")
    client.force_login(viewer)
    assert client.get(reverse("evals:index")).status_code == 200
    refused = client.post(reverse("evals:start"), {"suite": "core-memory-read", "models": ["engram/oracle"]})
    assert refused.status_code == 403
    assert not EvalRun.objects.exists()


def test_progress_html_and_chart(alice):
    run = EvalRun.objects.create(
        organization=alice.organization,
        suite="core-memory-read",
        model_handles=["engram/oracle", "openai/x"],
        samples=2,
        total=4,
        status="completed",
        summary={"engram/oracle": {"score": 100.0}, "openai/x": {"score": 50.0}},
    )
    result = EvalResult.objects.create(
        run=run, model="engram/oracle", index=0, status="done", score=1.0, answer="Paris"
    )
    from evals.render import render_result

    row, progress = render_progress(
        {
            "type": "eval_progress",
            "eval_id": run.id,
            "status": "running",
            "done": 1,
            "total": 4,
            "summary": {},
            "result": render_result(result),
        }
    )
    assert progress.startswith('<div id="eval-progress" data-eval-done="1"') and 'hx-swap-oob="true"' in progress
    assert row.startswith(f'<tr id="eval-result-{result.id}"') and "Paris" in row and 'hx-swap-oob="true"' in row
    retrieval = render_progress(
        {
            "type": "eval_progress",
            "eval_id": run.id,
            "status": "completed",
            "done": 4,
            "total": 4,
            "summary": {
                "local/minilm": {
                    "score": None,
                    "samples": 4,
                    "modes": {"hybrid": {"recall@5": 0.75, "recall@10": 1.0, "mrr": 0.5}},
                }
            },
            "result": None,
        }
    )
    assert retrieval[-1].count("hybrid: recall@5 0.750 · recall@10 1.000 · mrr 0.500") == 1
    assert "Cancel" not in retrieval[-1]
    chart = score_chart([run])
    assert [(s["model"], [d["y"] for d in s["dots"]]) for s in chart["series"]] == [
        ("engram/oracle", [12.0]),
        ("openai/x", [102.0]),
    ]
    assert score_chart([]) is None


def test_add_a_suite_from_the_page(signed_in):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from evals.models import UserSuite

    url = reverse("evals:suite_add")
    rows = b'{"input": "What colour is the sky?", "ground_truth": "blue"}\n{"input": "2+2?", "ground_truth": "4"}\n'
    bad = signed_in.post(
        url,
        {"name": "mine", "grader": "contains", "jsonl": SimpleUploadedFile("s.jsonl", b"{nope\n")},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 400 and "line 1 is not JSON" in bad.content.decode()
    builtin = signed_in.post(
        url, {"name": "core-memory-read", "jsonl": SimpleUploadedFile("s.jsonl", rows)}, HTTP_HX_REQUEST="true"
    )
    assert builtin.status_code == 409
    assert not UserSuite.objects.exists()
    added = signed_in.post(
        url, {"name": "sky", "grader": "exact", "jsonl": SimpleUploadedFile("s.jsonl", rows)}, HTTP_HX_REQUEST="true"
    )
    assert added.status_code == 200 and added["HX-Redirect"] == "/evals/?suite=sky"
    suite = UserSuite.objects.get()
    assert (suite.name, suite.grader, len(suite.rows)) == ("sky", "exact", 2)
    page = signed_in.get(added["HX-Redirect"]).content.decode()
    assert '<option value="sky" selected>' in page and "(yours)" in page
