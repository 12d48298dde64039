"""The Archival tab says what the agent can do (#15 confusing 9): an agent without archival tools is told so and
offered to attach them; the tab lists the phrases the scripted simulator understands."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent, update_agent
from agents.pages.templates_catalog import blank_spec
from tests.e2e.test_ade import open_workspace, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_archival_tab_offers_the_tools_it_needs_and_lists_simulator_phrases(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, blank_spec("Blank"))
    keep = [t.id for t in agent.tools.exclude(name__startswith="archival_memory")]
    update_agent(alice, agent.id, {"tool_ids": keep})
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    page.locator("#right-panel .tabs").get_by_text("Archival").click()
    note = page.locator("#archival-tools-note")
    expect(note).to_contain_text("no archival tools")
    expect(page.locator("#archival")).not_to_contain_text("The agent stores facts here")

    page.locator("#simulator-help summary").click()
    expect(page.locator("#simulator-help")).to_contain_text("remember that")
    expect(page.locator("#simulator-help")).to_contain_text("archival_memory_search")

    note.get_by_role("button", name="Attach archival tools").click()
    expect(page.locator("#archival-tools-note")).to_have_count(0)
    names = set(agent.tools.values_list("name", flat=True))
    assert {"archival_memory_insert", "archival_memory_search"} <= names
