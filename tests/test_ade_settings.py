"""Agent settings the ADE lacked (#15 missing 18): max output tokens, reasoning on/off and effort, parallel tool calls
and the sleep-time toggle, saved through the settings form into the agent (the same update_agent as the API)."""

import pytest
from django.test import Client
from django.urls import reverse

from agents.actions import create_agent
from agents.models import Agent
from agents.pages.templates_catalog import blank_spec

pytestmark = pytest.mark.django_db


def form(agent, **extra):
    llm = agent.llm_config
    return {
        "version": agent.version,
        "name": agent.name,
        "description": agent.description,
        "model": llm.get("handle") or agent.model_handle,
        "embedding": (agent.embedding_config or {}).get("handle", ""),
        "context_window_limit": agent.context_window,
        "temperature": llm.get("temperature", 0.7),
        "system": agent.system,
        "tags": "",
        **extra,
    }


def test_output_reasoning_tools_and_sleeptime_are_saved(alice):
    agent = create_agent(alice, blank_spec("Tuned"))
    client = Client()
    client.force_login(alice)
    url = reverse("agents:settings_save", args=[agent.id])
    extra = {"max_tokens": "512", "reasoning_effort": "high", "enable_reasoner": "on", "parallel_tool_calls": "on"}
    response = client.post(url, form(agent, **extra, enable_sleeptime="on"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content.decode()[:500]
    agent.refresh_from_db()
    llm = agent.llm_config
    assert (llm["max_tokens"], llm["reasoning_effort"], llm["enable_reasoner"], llm["parallel_tool_calls"]) == (
        512,
        "high",
        True,
        True,
    )
    assert agent.enable_sleeptime and Agent.objects.filter(agent_type="sleeptime_agent").exists()
    page = client.get(reverse("agents:settings", args=[agent.id]), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="max_tokens"' in page and 'value="512"' in page

    response = client.post(url, form(agent, max_tokens="0"), HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "greater than or equal to 1" in response.content.decode()
    response = client.post(url, form(agent, enable_sleeptime="on"), HTTP_HX_REQUEST="true")  # the rest unset again
    agent.refresh_from_db()
    assert response.status_code == 200 and not agent.llm_config.get("max_tokens")
    assert not agent.llm_config.get("enable_reasoner")
