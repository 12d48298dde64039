"""The tool-rules editor in the browser (#15 missing 16): a person adds a "then only" rule and an exit rule with
tool pickers (no JSON), sees them drawn as a graph, edits one into a branch and removes another."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from agents.models import Agent
from agents.pages.templates_catalog import blank_spec
from tests.e2e.test_ade import open_workspace, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_tools(page, base, agent):
    open_workspace(page, base, agent.id)
    page.locator("#left-panel .tabs").get_by_text("Tools").click()
    page.wait_for_selector("#tool-rules")


def add_rule(page, kind: str, tool: str, children=(), mapping: str = ""):
    page.locator("#tool-rules").get_by_text("+ Add rule").click()
    form = page.locator("#rule-form")
    expect(form).to_be_visible()
    form.locator("select[name=type]").select_option(kind)
    form.locator("select[name=tool_name]").select_option(tool)
    for child in children:
        form.locator(f"input[name=children][value='{child}']").check()
    if mapping:
        form.locator("textarea[name=mapping]").fill(mapping)
    form.get_by_role("button", name="Save rule").click()
    expect(page.locator("#tool-rules .notice-ok")).to_contain_text("Rules saved.")


def test_rules_are_built_with_pickers_and_drawn_as_a_graph(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, blank_spec("Workflow"))
    names = list(agent.tools.values_list("name", flat=True))
    first, second = names[0], names[1]
    page = sign_in(browser, base, alice)
    open_tools(page, base, agent)

    page.locator("#tool-rules").get_by_text("+ Add rule").click()
    form = page.locator("#rule-form")
    form.locator("select[name=type]").select_option("exit_loop")
    expect(form.locator(".rule-extra[data-for*=constrain_child_tools]")).to_be_hidden()  # only what the type needs
    form.locator("select[name=type]").select_option("constrain_child_tools")
    expect(form.locator(".rule-extra[data-for*=constrain_child_tools]")).to_be_visible()
    page.locator("#left-panel").get_by_role("link", name="Cancel").click()
    expect(page.locator("#rule-form")).to_be_hidden()  # the panel came back with the editor closed

    add_rule(page, "constrain_child_tools", first, children=[second])
    add_rule(page, "exit_loop", second)
    rows = page.locator("#rules-list li")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(f"after {first}, only {second}")
    graph = page.locator("#rules-graph")
    expect(graph.locator(f'g.rules-edge[data-from="{first}"][data-to="{second}"]')).to_have_count(1)
    expect(graph.locator('g.rules-edge[data-to="end"]')).to_have_count(1)
    expect(graph.locator("g.rules-node")).to_have_count(3)  # the two tools and "end"
    shot(page, "ade-tool-rules")

    rows.nth(0).get_by_role("link", name="Edit").click()
    form = page.locator("#rule-form")
    expect(form.locator("select[name=type]")).to_have_value("constrain_child_tools")
    form.locator("select[name=type]").select_option("conditional")
    form.locator("textarea[name=mapping]").fill(f"done = {second}")
    form.get_by_role("button", name="Save rule").click()
    expect(page.locator("#rules-list li").nth(0)).to_contain_text(f"“done” → {second}")
    expect(page.locator("#rules-graph g.rules-edge text", has_text="= done")).to_have_count(1)

    page.once("dialog", lambda d: d.accept())
    page.locator("#rules-list li").nth(1).get_by_role("button", name="Remove").click()
    expect(page.locator("#rules-list li")).to_have_count(1)
    assert [r["type"] for r in Agent.objects.get(id=agent.id).tool_rules] == ["conditional"]
