"""The chat transcript (#15 small things): a memgpt_v2 agent's reply is shown once, as the reply; the return row of
its send_message call (which only says the message was sent) is not drawn as a card of its own, while the tool
returns of other tools still are."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from agents import runs
from agents.actions import create_agent
from agents.models import Message, Run
from agents.pages.templates_catalog import blank_spec


@pytest.mark.django_db(transaction=True)
def test_send_message_returns_do_not_clutter_the_transcript(scripted_llm, alice):
    agent = create_agent(alice, {**blank_spec("Classic"), "agent_type": "memgpt_v2_agent"})
    client = Client()
    client.force_login(alice)
    client.post(reverse("agents:send", args=[agent.id]), {"text": "my name is Ada"}, HTTP_HX_REQUEST="true")
    runs.wait(Run.objects.get(agent=agent).id, timeout=60)
    names = [m.name for m in Message.objects.filter(agent=agent, role="tool")]
    assert "send_message" in names and len(set(names)) > 1  # a memory edit, then the reply
    page = client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    shown = re.findall(r'<span class="kind">Tool return</span>(?:<code>([^<]*)</code>)?', page)
    assert shown and "send_message" not in shown  # other tools' returns are still cards; send_message's is not
    assert set(shown) == set(names) - {"send_message"}
