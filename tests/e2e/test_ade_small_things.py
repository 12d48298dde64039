"""Small things (#15 confusing 13) as a user meets them: an agent changed elsewhere refreshes the page without a
single `htmx:oobErrorNoTarget` (only the left tab the page shows is pushed), a switched tab gets its own pushes, and
archival_memory_search's results read as a list in the transcript, not as a Python repr."""

import httpx
import pytest
from playwright.sync_api import expect

from accounts.actions import create_api_key
from agents.actions import create_agent
from agents.pages.templates_catalog import BY_KEY
from memory.actions import Actor
from memory.archival import insert_archival
from tests.e2e.test_ade import open_workspace, send, sign_in, wait_for_turns

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_agent_updates_push_only_what_the_page_shows(browser, live_server_url, alice, bob):
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Pushy"))
    page = sign_in(browser, live_server_url, alice)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    open_workspace(page, live_server_url, agent.id)  # the left panel shows Settings
    # bob changes the agent through the API, i.e. in the server, which pushes to alice's page
    api = httpx.Client(base_url=live_server_url, headers={"Authorization": f"Bearer {create_api_key(bob)[1]}"})
    assert api.patch(f"/v1/agents/{agent.id}", json={"name": "Pushy renamed"}).status_code == 200
    expect(page.locator("#agent-title")).to_have_text("Pushy renamed")
    page.locator("#left-panel .tabs").get_by_text("Tools").click()
    expect(page.locator("#tools-attached .item-title")).to_have_count(5)
    assert "archival_memory_search" in page.locator("#tools-attached .item-title").all_inner_texts()
    tool = agent.tools.get(name="archival_memory_search")
    answer = api.patch(f"/v1/agents/{agent.id}/tools/detach/{tool.id}")  # the page shows Tools now: pushed there
    assert answer.status_code == 200
    names = page.locator("#tools-attached .item-title")
    expect(names).to_have_count(4)
    assert "archival_memory_search" not in names.all_inner_texts()
    assert api.patch(f"/v1/agents/{agent.id}", json={"description": "still quiet"}).status_code == 200
    expect(page.locator("#agent-title")).to_have_text("Pushy renamed")
    assert not [p for p in problems if "oobErrorNoTarget" in p], problems


def test_archival_search_results_read_as_a_list(browser, live_server_url, scripted_llm, alice):
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Finder"))
    insert_archival(agent, "Ada's sister is called Maya.", ["family"], actor=Actor.user(alice, via="api"))
    page = sign_in(browser, live_server_url, alice)
    open_workspace(page, live_server_url, agent.id)
    scripted_llm.queue_tool_call("archival_memory_search", {"query": "sister"})
    scripted_llm.queue_text("Your sister is Maya.")
    send(page, "what is my sister called?")
    wait_for_turns(page, 1)
    card = page.locator("#chat-inner .step-tool-return", has_text="archival_memory_search")
    card.locator("summary").click()
    expect(card.locator("ol.result-list li")).to_have_count(1)
    expect(card.locator("ol.result-list li")).to_contain_text("Ada's sister is called Maya.")
    expect(card.locator("ol.result-list li")).to_contain_text("family")
    assert "{'" not in card.inner_text()  # no Python repr
