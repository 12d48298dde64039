"""The tool-rules editor (#15 missing 16): rules added, edited and removed one at a time with tool pickers, saved
through update_agent with the version read, checked like the API's tool_rules, and drawn as a graph."""

import pytest
from django.test import Client
from django.urls import reverse

from agents.actions import create_agent
from agents.models import Agent
from agents.pages.rules_graph import build, drawing
from agents.pages.templates_catalog import blank_spec

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(alice):
    return create_agent(alice, {**blank_spec("Ruled"), "tools": []})


@pytest.fixture
def client(alice):
    c = Client()
    c.force_login(alice)
    return c


def post(client, agent, **fields):
    agent.refresh_from_db()
    data = {"version": agent.version, **fields}
    return client.post(reverse("agents:rule_save", args=[agent.id]), data, HTTP_HX_REQUEST="true")


def tool_names(agent):
    return list(agent.tools.values_list("name", flat=True))


def test_rules_are_added_edited_and_removed_with_pickers(client, agent):
    names = tool_names(agent)
    first, second = names[0], names[1]
    r = post(client, agent, type="constrain_child_tools", tool_name=first, children=[second])
    assert r.status_code == 200, r.content.decode()[:800]
    r = post(client, agent, type="exit_loop", tool_name=second)
    agent.refresh_from_db()
    assert agent.tool_rules == [
        {"type": "constrain_child_tools", "tool_name": first, "children": [second]},
        {"type": "exit_loop", "tool_name": second},
    ]
    page = r.content.decode()
    assert f"after {first}, only {second}" in page and f"{second} ends the turn" in page
    assert 'id="rules-graph"' in page and f'data-from="{first}" data-to="{second}"' in page

    # Edit: the form comes filled, and saving replaces that rule in place.
    form = client.get(reverse("agents:rule_edit", args=[agent.id]), {"index": 1}, HTTP_HX_REQUEST="true")
    assert 'name="index" value="1"' in form.content.decode()
    post(client, agent, index=1, type="max_count_per_step", tool_name=second, max_count_limit=2)
    agent.refresh_from_db()
    assert agent.tool_rules[1] == {"type": "max_count_per_step", "tool_name": second, "max_count_limit": 2}

    url = reverse("agents:rule_delete", args=[agent.id, 0])
    r = client.post(url, {"version": agent.version}, HTTP_HX_REQUEST="true")
    agent.refresh_from_db()
    assert r.status_code == 200 and [x["type"] for x in agent.tool_rules] == ["max_count_per_step"]


def test_each_type_asks_for_what_it_needs_with_clear_errors(client, agent):
    name = tool_names(agent)[0]
    cases = [
        ({"type": "constrain_child_tools", "tool_name": name}, "Choose at least one tool."),
        ({"type": "max_count_per_step", "tool_name": name}, "Give the most calls per turn"),
        ({"type": "conditional", "tool_name": name, "mapping": "yes"}, "write it as"),
        ({"type": "conditional", "tool_name": name, "mapping": "yes = nowhere"}, "is not one of this agent"),
        ({"type": "exit_loop", "tool_name": "not_attached"}, "Select a valid choice"),
    ]
    for fields, error in cases:
        r = post(client, agent, **fields)
        assert r.status_code == 400 and error in r.content.decode(), (fields, r.content.decode()[:300])
    agent.refresh_from_db()
    assert agent.tool_rules in ([], None)
    r = post(client, agent, type="conditional", tool_name=name, mapping=f"yes = {name}\nno = {name}")
    agent.refresh_from_db()
    assert r.status_code == 200 and agent.tool_rules[0]["child_output_mapping"] == {"yes": name, "no": name}


def test_a_stale_editor_does_not_overwrite_a_newer_change(client, agent, alice):
    from agents.actions import update_agent

    name = tool_names(agent)[0]
    seen = agent.version
    update_agent(alice, agent.id, {"tool_rules": [{"type": "exit_loop", "tool_name": name}]})  # another tab
    r = client.post(
        reverse("agents:rule_save", args=[agent.id]),
        {"version": seen, "type": "run_first", "tool_name": name},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 409 and "rules meanwhile" in r.content.decode()
    assert Agent.objects.get(id=agent.id).tool_rules == [{"type": "exit_loop", "tool_name": name}]


def test_the_graph_reads_top_to_bottom_and_notes_what_is_not_an_edge():
    rules = [
        {"type": "run_first", "tool_name": "search"},
        {"type": "constrain_child_tools", "tool_name": "search", "children": ["summarise"]},
        {"type": "conditional", "tool_name": "summarise", "child_output_mapping": {"ok": "send"}, "default_child": "search"},
        {"type": "exit_loop", "tool_name": "send"},
        {"type": "max_count_per_step", "tool_name": "search", "max_count_limit": 3},
        {"type": "requires_approval", "tool_name": "send"},
    ]  # fmt: skip
    graph = build(rules)
    y = {name: node["y"] for name, node in graph.nodes.items()}
    assert y["start"] < y["search"] < y["summarise"] < y["send"] < y["end"]  # the cycle back to search is not a layer
    assert ("summarise", "send", "= ok") in graph.edges and ("summarise", "search", "otherwise") in graph.edges
    assert graph.nodes["search"]["notes"] == ["≤ 3 per step"] and graph.nodes["send"]["notes"] == ["needs approval"]
    drawn = drawing(rules)
    assert drawn["height"] > 5 * 30 and len(drawn["edges"]) == 5 and drawing([]) is None
    back = next(e for e in drawn["edges"] if e["label"] == "otherwise")
    assert back["lx"] > max(n["x"] for n in drawn["nodes"]) + 130  # drawn round on the right
