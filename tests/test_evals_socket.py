"""The Evals page's socket (/ws/evals/<id>/): members of the eval's organization only; the current state on
connect; each progress event as the sample's row, then the progress block, both swapped in by id."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from ade.asgi import application
from ade.events import send_now
from evals.events import eval_group
from evals.models import EvalResult, EvalRun
from evals.render import render_result
from tests.test_page_live import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("socket_sessions_ended")]


async def connect(eval_id, user=None):
    headers = [(b"origin", b"http://testserver")] + (
        [(b"cookie", await sync_to_async(session_cookie)(user))] if user else []
    )
    communicator = WebsocketCommunicator(application, f"/ws/evals/{eval_id}/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


@pytest.fixture
def run(alice):
    run = EvalRun.objects.create(
        organization=alice.organization,
        suite="core-memory-read",
        model_handles=["engram/oracle"],
        samples=2,
        total=2,
        status="running",
        done=0,
    )
    EvalResult.objects.bulk_create([EvalResult(run=run, model="engram/oracle", index=i) for i in range(2)])
    return run


async def test_members_only_then_state_and_live_rows(run, alice, mallory):
    for user in (None, mallory):
        _communicator, connected, code = await connect(run.id, user)
        assert not connected and code == 4404
    communicator, connected, _ = await connect(run.id, alice)
    assert connected
    first = await communicator.receive_from(timeout=5)
    assert first.startswith('<div id="eval-progress" data-eval-done="0" data-status="running" hx-swap-oob="true"')

    def finish_one():
        result = EvalResult.objects.get(run=run, index=0)
        result.status, result.score, result.answer = "done", 1.0, "Nora Fishel"
        result.save()
        send_now(
            eval_group(run.id),
            {
                "type": "eval_progress",
                "eval_id": run.id,
                "status": "running",
                "done": 1,
                "total": 2,
                "summary": {},
                "result": render_result(result),
            },
        )
        return result

    result = await sync_to_async(finish_one)()
    row = await communicator.receive_from(timeout=5)
    progress = await communicator.receive_from(timeout=5)
    assert row.startswith(f'<tr id="eval-result-{result.id}" data-status="done" hx-swap-oob="true"')
    assert "Nora Fishel" in row
    assert 'data-eval-done="1"' in progress and "1 / 2 samples" in progress
    await communicator.disconnect()
