"""Agent settings in the browser (#15 missing 18): a person sets max output tokens, reasoning and its effort and
parallel tool calls in the settings panel, and the agent keeps them."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from agents.models import Agent
from agents.pages.templates_catalog import blank_spec
from tests.e2e.test_ade import open_workspace, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_settings_panel_sets_output_reasoning_and_tool_calls(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, blank_spec("Tuned"))
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    page.click("#model-tuning > summary")
    page.fill("#settings-form input[name=max_tokens]", "256")
    page.check("#settings-form input[name=enable_reasoner]")
    page.select_option("#settings-form select[name=reasoning_effort]", "low")
    page.check("#settings-form input[name=parallel_tool_calls]")
    page.locator("#settings-form").get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-form")).to_contain_text("Settings saved.")
    llm = Agent.objects.get(id=agent.id).llm_config
    assert (llm["max_tokens"], llm["enable_reasoner"], llm["reasoning_effort"], llm["parallel_tool_calls"]) == (
        256,
        True,
        "low",
        True,
    )
    page.reload()
    page.click("#model-tuning > summary")
    expect(page.locator("#settings-form input[name=max_tokens]")).to_have_value("256")


def test_settings_panel_sets_compaction_and_shows_errors_where_they_are(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, blank_spec("Compacting"))
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    section = page.locator("#compaction-settings")
    section.locator("summary").click()
    page.select_option("#settings-form select[name=compaction_mode]", "all")
    clip = page.locator("#settings-form input[name=compaction_clip_chars]")
    expect(clip).to_have_attribute("min", "100")  # the browser checks it first; past that check, the server does:
    clip.evaluate("input => input.removeAttribute('min')")
    clip.fill("50")
    page.locator("#settings-form").get_by_role("button", name="Save settings").click()
    # The error is shown in its section, opened, beside its field (not in a collapsed part of the form).
    expect(page.locator("#compaction-settings")).to_have_attribute("open", "")
    expect(page.locator("#compaction-settings .field-error")).to_contain_text("greater than or equal to 100")
    page.fill("#settings-form input[name=compaction_clip_chars]", "4000")
    page.fill("#settings-form textarea[name=compaction_prompt]", "Keep names and dates.")
    page.locator("#settings-form").get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-form")).to_contain_text("Settings saved.")
    chosen = Agent.objects.get(id=agent.id).compaction_settings
    assert (chosen["mode"], chosen["clip_chars"], chosen["prompt"]) == ("all", 4000, "Keep names and dates.")
