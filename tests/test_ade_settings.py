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


def test_compaction_settings_are_edited_in_the_page_and_used_by_the_summariser(alice, scripted_llm):
    """#15 missing 18: the compaction mode, share, summary length, summariser model and prompt, saved through the
    same update_agent as PATCH /v1/agents/{id} and honoured when the window fills."""
    from memory.summarize import compact

    agent = create_agent(alice, blank_spec("Compacting"))
    client = Client()
    client.force_login(alice)
    url = reverse("agents:settings_save", args=[agent.id])
    page = client.get(reverse("agents:settings", args=[agent.id]), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="compaction_mode"' in page and 'value="0.3"' in page  # the defaults are shown
    compaction = {
        "compaction_mode": "all",
        "compaction_sliding_window_percentage": "0.5",
        "compaction_clip_chars": "120",
        "compaction_model": "engram/scripted",
        "compaction_prompt": "Summarise like a ship's log.",
    }
    response = client.post(url, form(agent, **compaction), HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content.decode()[:500]
    agent.refresh_from_db()
    assert agent.compaction_settings == {
        "mode": "all",
        "sliding_window_percentage": 0.5,
        "clip_chars": 120,
        "model": "engram/scripted",
        "prompt": "Summarise like a ship's log.",
    }
    bad = client.post(url, form(agent, compaction_clip_chars="5"), HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "greater than or equal to 100" in bad.content.decode()

    # The summariser is sent the prompt, and its summary is clipped to the length chosen.
    from agents.runtime.records import load_context  # the agent's in-context rows

    scripted_llm.queue_text("Long summary. " * 40)
    rows = load_context(agent)
    for i in range(6):
        rows += [_row(agent, "user", f"message {i}"), _row(agent, "assistant", f"reply {i}")]
    new = compact(agent, rows, trigger="test")
    assert scripted_llm.last_request()["messages"][0]["content"] == "Summarise like a ship's log."
    note = new[1].text
    assert "Long summary." in note and "[summary truncated to fit]" in note and note.count("Long summary.") < 12


def _row(agent, role, text):
    from agents.models import Message
    from agents.runtime.packaging import text_parts

    return Message.objects.create(
        organization_id=agent.organization_id, agent=agent, role=role, content=text_parts(text)
    )


def test_the_api_refuses_bad_compaction_settings_naming_the_field(alice_api, alice):
    agent = create_agent(alice, blank_spec("Strict"))
    path = f"/v1/agents/{agent.id}"
    for settings, field in (
        ({"model": "nowhere/nothing"}, "compaction_settings.model"),
        ({"clip_chars": 5}, "compaction_settings.clip_chars"),
        ({"prompt": 7}, "compaction_settings.prompt"),
    ):
        response = alice_api.patch(path, {"compaction_settings": settings})
        assert response.status_code == 400 and field in response.content.decode(), response.content
    ok = alice_api.patch(path, {"compaction_settings": {"mode": "all", "clip_chars": 2000, "model": "engram/scripted"}})
    assert ok.status_code == 200 and ok.json()["compaction_settings"]["clip_chars"] == 2000
