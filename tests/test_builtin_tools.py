"""Built-in tools: they exist as base tools (agents.create(tools=[...]) works), run_code runs in the sandbox, web
tools say honestly when there is no provider or network, and multi-agent tools reach only the same organization."""

import http.server
import json
import threading

import pytest

from agents.actions import create_agent
from tests.helpers_loop import turn

pytestmark = pytest.mark.django_db

BUILTIN = [
    "web_search",
    "fetch_webpage",
    "run_code",
    "send_message_to_agent_async",
    "send_message_to_agent_and_wait_for_reply",
    "send_message_to_agents_matching_tags",
]


def agent_with(user, tools, **extra):
    spec = {"name": extra.pop("name", "builtin"), "model": "engram/scripted", "embedding": "local/all-minilm-l6-v2"}
    return create_agent(user, {**spec, "tools": tools, **extra})


def tool_return(run) -> dict:
    """The first tool return of the run: {status, func_response}."""
    from agents.models import Message

    row = Message.objects.filter(run=run, role="tool").order_by("seq").first()
    return row.tool_returns[0]


def call(scripted_llm, user, agent, name, args):
    scripted_llm.queue({"tool_calls": [{"name": name, "arguments": args}]}, {"text": "ok"})
    run, _ = turn(user, agent, "go")
    return tool_return(run)


def test_builtin_tools_can_be_attached_by_name(alice_api):
    response = alice_api.post(
        "/v1/agents/",
        {"name": "all", "model": "engram/scripted", "embedding": "local/all-minilm-l6-v2", "tools": BUILTIN},
    )
    assert response.status_code == 200, response.content
    names = {t["name"]: t["tool_type"] for t in response.json()["tools"]}
    assert {n: names[n] for n in BUILTIN} == {
        "web_search": "letta_builtin",
        "fetch_webpage": "letta_builtin",
        "run_code": "letta_builtin",
        "send_message_to_agent_async": "letta_multi_agent_core",
        "send_message_to_agent_and_wait_for_reply": "letta_multi_agent_core",
        "send_message_to_agents_matching_tags": "letta_multi_agent_core",
    }


def test_run_code_runs_in_the_sandbox(alice, scripted_llm):
    agent = agent_with(alice, ["run_code"])
    result = call(scripted_llm, alice, agent, "run_code", {"code": "import os\nprint(6 * 7, sorted(os.environ))"})
    assert result["status"] == "success"
    out = json.loads(result["func_response"])
    assert out["stdout"].startswith("42 ") and "DATABASE_URL" not in out["stdout"] and "SECRET_KEY" not in out["stdout"]
    failed = call(scripted_llm, alice, agent, "run_code", {"code": "raise ValueError('boom')"})
    assert "boom" in failed["func_response"]
    other = call(scripted_llm, alice, agent, "run_code", {"code": "console.log(1)", "language": "js"})
    assert other["status"] == "error" and "python" in other["func_response"]


def test_web_search_without_a_provider_is_an_honest_error(alice, scripted_llm, settings, monkeypatch):
    for name in ("EXA_API_KEY", "TAVILY_API_KEY", "WEB_SEARCH_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    settings.EXA_API_KEY = settings.TAVILY_API_KEY = settings.WEB_SEARCH_PROVIDER = ""
    agent = agent_with(alice, ["web_search"])
    result = call(scripted_llm, alice, agent, "web_search", {"query": "latest news"})
    assert result["status"] == "error"
    assert "no web search provider" in result["func_response"] and "No results" in result["func_response"]


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b"<html><head><style>x{}</style></head><body><h1>Hello</h1><p>Tea &amp; cake</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - a search provider speaking Tavily's shape
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"results": [{"title": "T", "url": "https://e.x/1", "content": f"about {asked['query']}"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def page_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_webpage_and_web_search_with_a_provider(alice, scripted_llm, settings, page_server):
    agent = agent_with(alice, ["fetch_webpage", "web_search"])
    page = call(scripted_llm, alice, agent, "fetch_webpage", {"url": f"{page_server}/page"})
    assert page["status"] == "success" and page["func_response"] == "Hello\nTea & cake"

    settings.ALLOWED_MODEL_HOSTS = []  # loopback is then an internal address: refused, not fetched
    refused = call(scripted_llm, alice, agent, "fetch_webpage", {"url": f"{page_server}/page"})
    assert refused["status"] == "error" and "internal address" in refused["func_response"]
    unreachable = call(scripted_llm, alice, agent, "fetch_webpage", {"url": "http://no-such-host.invalid/"})
    assert unreachable["status"] == "error"
    assert any(w in unreachable["func_response"] for w in ("Nothing was fetched", "refused"))

    settings.WEB_SEARCH_PROVIDER, settings.TAVILY_API_KEY = "tavily", "tvly-test"
    settings.WEB_SEARCH_URL = f"{page_server}/search"
    found = call(scripted_llm, alice, agent, "web_search", {"query": "teapots"})
    assert json.loads(found["func_response"])["results"] == [
        {"title": "T", "url": "https://e.x/1", "excerpt": "about teapots"}
    ]


def test_agents_message_each_other_within_the_organization_only(alice, mallory, scripted_llm):
    caller = agent_with(alice, ["send_message_to_agent_and_wait_for_reply", "send_message_to_agents_matching_tags"])
    helper = agent_with(alice, [], name="helper", tags=["team"])
    outsider = agent_with(mallory, [], name="outsider", tags=["team"])

    scripted_llm.queue(
        {
            "tool_calls": [
                {
                    "name": "send_message_to_agent_and_wait_for_reply",
                    "arguments": {"message": "What is 2+2?", "other_agent_id": helper.id},
                }
            ]
        },
        {"text": "It is 4."},  # the helper's reply, inside the tool call
        {"text": "The helper says 4."},
    )
    run, _ = turn(alice, caller, "ask the helper")
    result = tool_return(run)
    assert result["status"] == "success" and "It is 4." in result["func_response"]
    asked = [m for m in helper.messages.filter(role="user")]
    assert "What is 2+2?" in asked[-1].text and asked[-1].sender_id == caller.id

    refused = call(
        scripted_llm,
        alice,
        caller,
        "send_message_to_agent_and_wait_for_reply",
        {"message": "hi", "other_agent_id": outsider.id},
    )
    assert refused["status"] == "error" and "No agent" in refused["func_response"]
    assert not outsider.messages.filter(role="user").exists()

    scripted_llm.queue(
        {
            "tool_calls": [
                {
                    "name": "send_message_to_agents_matching_tags",
                    "arguments": {"message": "roll call", "match_all": ["team"], "match_some": []},
                }
            ]
        },
        {"text": "here"},
        {"text": "done"},
    )
    run, _ = turn(alice, caller, "roll call")
    replies = json.loads(tool_return(run)["func_response"])
    assert replies == [f"{helper.id}: here"]
    assert not outsider.messages.filter(role="user").exists()
