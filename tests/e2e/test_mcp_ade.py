"""MCP in the ADE, in a real browser: add a streamable-HTTP MCP server on the MCP servers page (test the
connection first), attach one of its tools from an agent's Tools panel, and see the scripted model call it in a
turn, with the server's name and time on the tool's card."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from tests.e2e.test_ade import open_workspace, send, shot, sign_in, wait_for_turns
from tests.servers.remote import TOKEN, MCPTestServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mcp_server():
    server = MCPTestServer("http").start()
    yield server
    server.stop()


def test_add_an_mcp_server_attach_its_tool_and_see_the_agent_call_it(
    browser, live_server_url, scripted_llm, alice, mcp_server
):
    base = live_server_url
    agent = create_agent(alice, {"name": "Calculator", "model": "engram/scripted"})
    page = sign_in(browser, base, alice)

    page.goto(f"{base}/mcp-servers/")
    expect(page.locator("#mcp-servers")).to_contain_text("No MCP servers yet")
    page.fill("#mcp-name", "calc")
    page.fill("#mcp-url", mcp_server.url)
    page.fill("#mcp-token", TOKEN)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#mcp-probe")).to_contain_text("Connected: 8 tools")
    page.fill("#mcp-token", TOKEN)  # a password field is never sent back filled
    page.get_by_role("button", name="Add server").click()
    expect(page.locator("#mcp-servers")).to_contain_text("Added calc with 8 tools")
    assert TOKEN not in page.content()
    shot(page, "30-mcp-servers")

    open_workspace(page, base, agent.id)
    page.locator("#left-panel .tabs").get_by_text("Tools").click()
    page.fill("#attach-tool-search", "add")
    expect(page.locator("#attach-tool optgroup[label='MCP · calc'] option:not([hidden])")).to_have_text(["add"])
    assert page.eval_on_selector("#attach-tool optgroup[label='Built-in']", "group => group.hidden")
    page.select_option("#attach-tool", label="add")
    page.get_by_role("button", name="Attach").click()
    expect(page.locator("#tools-attached")).to_contain_text("MCP · calc")

    scripted_llm.queue_tool_call("add", {"a": 20, "b": 22}, id="call_add")
    scripted_llm.queue_text("20 + 22 is 42.")
    send(page, "What is 20 + 22?")
    wait_for_turns(page, 1)
    expect(page.locator("#chat-inner")).to_contain_text("20 + 22 is 42.")
    card = page.locator("#chat-inner .step-tool-return").first
    expect(card).to_contain_text("MCP calc ·")
    card.locator("summary").click()
    expect(card.locator(".card-content pre").first).to_have_text("42")
    shot(page, "31-mcp-tool-call")
