"""The tool code editor's server parts (#15 missing 15): the live schema with the line of an error, pip
requirements kept with the tool, and built-in tools opened read-only."""

import pytest
from django.test import Client
from django.urls import reverse

from agents.actions import create_agent
from agents.pages.templates_catalog import blank_spec
from tools.models import Tool

pytestmark = pytest.mark.django_db

GOOD = '''def greet(name: str, times: int = 1) -> str:
    """Greet someone.

    Args:
        name: Who to greet.
        times: How many times.
    """
    return ("hello " + name + " ") * times
'''


@pytest.fixture
def agent(alice):
    return create_agent(alice, blank_spec("Coder"))


@pytest.fixture
def client(alice):
    c = Client()
    c.force_login(alice)
    return c


def test_the_schema_follows_the_source_and_errors_name_their_line(client, agent):
    url = reverse("agents:tool_schema", args=[agent.id])
    ok = client.post(url, {"source_code": GOOD}).json()
    assert ok["schema"]["name"] == "greet" and set(ok["schema"]["parameters"]["properties"]) == {"name", "times"}
    broken = GOOD.replace("    return (", "    return ((", 1)  # line 8: an unclosed bracket
    bad = client.post(url, {"source_code": broken})
    assert bad.status_code == 400 and bad.json()["line"] in (8, 9) and "syntax error" in bad.json()["error"]
    no_hint = "x = 1\n\n\ndef shout(words) -> str:\n    return words\n"
    err = client.post(url, {"source_code": no_hint}).json()
    assert err.get("schema") or err["line"] == 4  # a problem with the function is marked on its def line


def test_pip_requirements_are_kept_with_the_tool(client, agent):
    url = reverse("agents:tool_new", args=[agent.id])
    r = client.post(url, {"source_code": GOOD, "pip_requirements": "requests==2.32.3\n# a comment\nnumpy\n"})
    assert r.status_code == 200, r.content.decode()[:500]
    tool = Tool.objects.get(name="greet")
    assert tool.pip_requirements == [{"name": "requests", "version": "2.32.3"}, {"name": "numpy", "version": None}]
    page = client.get(reverse("agents:tool_edit", args=[agent.id, tool.id])).content.decode()
    assert "requests==2.32.3\nnumpy" in page
    bad = client.post(url, {"source_code": GOOD.replace("greet", "greet2"), "pip_requirements": "requests==\n"})
    assert bad.status_code == 400 and "Line 1: write a package as name or name==version" in bad.content.decode()
    assert not Tool.objects.filter(name="greet2").exists()


def test_built_in_tools_open_read_only(client, agent):
    page = client.get(reverse("agents:builtin_tool", args=[agent.id, "memory_replace"]), HTTP_HX_REQUEST="true")
    html = page.content.decode()
    assert page.status_code == 200 and "def memory_replace(" in html and "readonly data-code" in html
    assert (
        "Save tool" not in html
        and "Create and attach" not in html
        and "&quot;name&quot;: &quot;memory_replace&quot;" in html
    )
    assert client.get(reverse("agents:builtin_tool", args=[agent.id, "nope"])).status_code == 404
    tools = client.get(reverse("agents:tools", args=[agent.id]), HTTP_HX_REQUEST="true").content.decode()
    assert reverse("agents:builtin_tool", args=[agent.id, "memory_replace"]) in tools  # its View link


def test_secrets_are_set_masked_and_removed_in_the_tools_panel(client, agent):
    from django.db import connection

    from agents.models import Agent

    url = reverse("agents:secret_set", args=[agent.id])
    r = client.post(
        url, {"version": agent.version, "name": "API_TOKEN", "value": "sk-live-1234567890wxyz"}, HTTP_HX_REQUEST="true"
    )
    html = r.content.decode()
    assert r.status_code == 200 and "API_TOKEN" in html and "****wxyz" in html and "sk-live-1234567890wxyz" not in html
    agent.refresh_from_db()
    assert agent.secrets == {"API_TOKEN": "sk-live-1234567890wxyz"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM agents_agent WHERE id = %s", [agent.id])
        assert "sk-live" not in cursor.fetchone()[0]  # encrypted at rest
    bad = client.post(url, {"version": agent.version, "name": "1BAD", "value": "x"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "letters, digits and _" in bad.content.decode()
    stale = client.post(url, {"version": agent.version - 1, "name": "OTHER", "value": "x"}, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409 and Agent.objects.get(id=agent.id).secrets == {
        "API_TOKEN": "sk-live-1234567890wxyz"
    }
    gone = client.post(
        reverse("agents:secret_delete", args=[agent.id, "API_TOKEN"]),
        {"version": agent.version},
        HTTP_HX_REQUEST="true",
    )
    assert gone.status_code == 200 and Agent.objects.get(id=agent.id).secrets == {}
