"""A step's trace opens from its turn in the chat: the turn's footer links to a page that shows what each step
sent to the model and got back, secrets redacted, and only for agents the user may see."""

import pytest
from django.urls import reverse

from agents.actions import create_agent
from tests.helpers_loop import turn

pytestmark = pytest.mark.django_db


def test_the_turn_links_to_its_trace(alice, mallory, client, scripted_llm):
    spec = {"name": "traced", "model": "engram/scripted", "secrets": {"API_TOKEN": "tok-very-secret"}}
    agent = create_agent(alice, spec)
    scripted_llm.queue_text("Your token is tok-very-secret.")
    run, _ = turn(alice, agent, "What is my token? It is tok-very-secret")
    client.force_login(alice)

    workspace = client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    link = reverse("agents:trace", args=[agent.id, run.id])
    assert f'href="{link}"' in workspace

    page = client.get(link).content.decode()
    step = run.steps.get()
    assert f'id="trace-{step.id}"' in page and "What is my token?" in page and "Your token is" in page
    assert "tok-very-secret" not in page and "[redacted]" in page

    client.force_login(mallory)
    assert client.get(link).status_code == 404
