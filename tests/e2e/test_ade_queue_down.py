"""A deployment with workers whose task queue (Redis) is down: a message sent from the chat fails at once, and the
open page shows it then (its websocket, which would have told it later, needs Redis too)."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from agents.models import Run
from agents.pages.templates_catalog import BY_KEY
from tests.conftest import _free_port, serve
from tests.e2e.test_ade import send, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_message_sent_while_redis_is_down_fails_on_the_page_and_keeps_its_text(
    browser, django_db_setup, scripted_llm_server, tmp_path, alice
):
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Queued"))
    nothing_listens = f"redis://127.0.0.1:{_free_port()}/0"
    with serve(tmp_path, REDIS_URL=nothing_listens, CELERY_EAGER="0") as url:
        page = sign_in(browser, url, alice)
        page.goto(f"{url}/agents/{agent.id}/")  # its websocket cannot go live: the channel layer is Redis
        send(page, "are you there?")
        expect(page.locator("#composer-error")).to_contain_text("task queue (Redis) is unavailable")
        turn = page.locator("#chat-inner .turn").last
        expect(turn.locator(".msg-user")).to_have_text("are you there?")
        expect(turn.locator(".turn-footer .badge")).to_have_text("error")
        expect(turn.locator(".turn-footer .notice-error")).to_contain_text("will not run")
        expect(turn.locator(".thinking")).to_have_count(0)
        expect(page.locator("#composer-text")).to_have_value("are you there?")  # kept, to send again
        expect(page.locator(".messages .notice")).to_have_count(0)  # not the generic "server hit an error" toast
    run = Run.objects.get(agent_id=agent.id)
    assert run.status == "failed" and "task queue" in run.error
