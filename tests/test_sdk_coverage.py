"""Every operation of letta-client 1.12.1 through the SDK against a live server, with strict response validation.

The operations are found by introspecting the SDK's resource classes (each method that sends a request, with its
HTTP method and path template); every request the client sends is recorded (httpx event hook) and matched back to
its operation. The scenario below calls each open-source operation and checks what it did; the cloud-only ones
(templates, agents.schedule, environments, access_tokens) must answer 404 naming the operation. The test prints
how many open-source operations the server served.
"""

import inspect
import json
import re
import time
from typing import Any

import httpx
import pytest
from letta_client import Letta, NotFoundError
from letta_client._resource import SyncAPIResource

from ade.cloud_only import CLOUD_ONLY
from tests.servers.remote import TOKEN, MCPTestServer
from tests.test_sdk import SHOUT

pytestmark = pytest.mark.django_db(transaction=True)

_CALL = re.compile(
    r"self\._(get|post|put|patch|delete|get_api_list)\(\s*(?:f?\"([^\"]*)\"|path_template\(\s*\"([^\"]*)\")"
)
CLOUD_NAMES = {name for _m, _p, name in CLOUD_ONLY}


def sdk_operations() -> dict[str, tuple[str, str]]:
    """{"agents.messages.create": ("POST", "/v1/agents/{agent_id}/messages"), ...} plus the client's health."""
    import letta_client.resources  # noqa: F401 (loads every resource module)

    ops = {"health": ("GET", "/v1/health/")}
    for cls in _subclasses(SyncAPIResource):
        parts = cls.__module__.split(".")[2:]
        if len(parts) > 1 and parts[-1] == parts[-2]:
            parts = parts[:-1]
        for name, function in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(function):
                continue
            found = _CALL.search(inspect.getsource(function))
            if found:
                method = "GET" if found[1] == "get_api_list" else found[1].upper()
                ops[".".join([*parts, name])] = (method, found[2] or found[3])
    return ops


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _pattern(template: str) -> re.Pattern:
    literal = re.escape(template.rstrip("/"))
    return re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", literal) + "/?$")


class Recorder:
    """Which operation each request was, and its status: the operations a live server served (2xx)."""

    def __init__(self, ops: dict):
        # Most literal characters first, so /files/close-all wins over /files/{file_id}.
        self.routes = sorted(
            (
                (name, method, _pattern(path), len(re.sub(r"\{[^}]*\}", "", path)))
                for name, (method, path) in ops.items()
            ),
            key=lambda route: -route[3],
        )
        self.served, self.refused = set(), {}

    def hook(self, response: httpx.Response) -> None:
        path = response.request.url.path
        name = next((n for n, m, p, _ in self.routes if m == response.request.method and p.match(path)), None)
        if name and 200 <= response.status_code < 300:
            self.served.add(name)
        elif name:
            self.refused.setdefault(name, response.status_code)


@pytest.fixture(scope="module")
def mcp_server():
    server = MCPTestServer("http").start()
    yield server
    server.stop()


@pytest.fixture
def recorded(live_server_url, alice_key):
    recorder = Recorder(sdk_operations())
    http = httpx.Client(event_hooks={"response": [recorder.hook]}, timeout=60)
    with Letta(
        base_url=live_server_url, api_key=alice_key, http_client=http, _strict_response_validation=True, max_retries=0
    ) as client:
        yield client, recorder


def make_agent(letta, name, **extra):
    return letta.agents.create(
        name=name,
        model="engram/scripted",
        embedding="local/all-minilm-l6-v2",
        memory_blocks=[{"label": "human", "value": "Name: unknown"}],
        **extra,
    )


def _agents_and_blocks(letta, scripted_llm):
    assert letta.health().status == "ok"
    assert "engram/scripted" in [m.handle for m in letta.models.list()]
    assert letta.models.embeddings.list()[0].handle
    agent = make_agent(letta, "cov", tags=["cov"])
    assert letta.agents.retrieve(agent.id).name == "cov" and [a.id for a in letta.agents.list(tags=["cov"])] == [
        agent.id
    ]
    assert letta.agents.update(agent.id, description="covered").description == "covered"
    assert "cov" in letta.tags.list()
    block = letta.blocks.create(label="notes", value="v1")
    assert letta.blocks.retrieve(block.id).value == "v1" and block.id in [
        b.id for b in letta.blocks.list(label="notes")
    ]
    assert letta.blocks.update(block.id, value="v2").value == "v2"
    letta.agents.blocks.attach(block.id, agent_id=agent.id)
    assert [a.id for a in letta.blocks.agents.list(block.id)] == [agent.id]
    assert letta.agents.blocks.retrieve("notes", agent_id=agent.id).value == "v2"
    assert letta.agents.blocks.update("notes", agent_id=agent.id, value="v3").value == "v3"
    assert "notes" in [b.label for b in letta.agents.blocks.list(agent.id)]
    assert "v3" in letta.agents.recompile(agent.id)
    letta.agents.blocks.detach(block.id, agent_id=agent.id)
    letta.blocks.delete(block.id)
    with pytest.raises(NotFoundError):
        letta.blocks.retrieve(block.id)
    return agent


def _tools(letta, agent, scripted_llm):
    tool = letta.tools.create(source_code=SHOUT, tags=["voice"])
    assert letta.tools.retrieve(tool.id).name == "shout" and tool.id in [t.id for t in letta.tools.list(name="shout")]
    assert letta.tools.update(tool.id, description="Loud.").description == "Loud."
    assert letta.tools.upsert(source_code=SHOUT).id == tool.id
    assert letta.tools.search(query="shout", search_mode="fts")[0].tool.id == tool.id
    letta.agents.tools.attach(tool.id, agent_id=agent.id)
    assert "shout" in [t.name for t in letta.agents.tools.list(agent.id)]
    assert letta.agents.tools.run("shout", agent_id=agent.id, args={"text": "hi"}).func_return == "HI!"
    letta.agents.tools.update_approval("shout", agent_id=agent.id, body_requires_approval=False)
    letta.agents.tools.detach(tool.id, agent_id=agent.id)
    letta.tools.delete(tool.id)
    with pytest.raises(NotFoundError):
        letta.tools.retrieve(tool.id)


def _messages_runs_steps(letta, agent, scripted_llm):
    scripted_llm.queue_text("Hello there, penguin fan.")
    reply = letta.agents.messages.create(agent.id, input="I like penguins")
    run_id = reply.messages[0].run_id
    scripted_llm.queue_text("Streaming hello.")
    chunks = list(letta.agents.messages.stream(agent.id, input="stream please", include_pings=False))
    assert chunks[0].content == "Streaming hello."
    assert [c.message_type for c in letta.runs.messages.stream(chunks[0].run_id, include_pings=False)][-1] == (
        "usage_statistics"
    )
    scripted_llm.queue_text("Async hello.")
    queued = letta.agents.messages.create_async(agent.id, input="later")
    deadline = time.monotonic() + 30
    while letta.runs.retrieve(queued.id).status not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert letta.agents.messages.cancel(agent.id, run_ids=[queued.id]) is not None
    assert run_id in [r.id for r in letta.runs.list(agent_id=agent.id)]
    assert letta.runs.retrieve(run_id).status == "completed"
    assert "assistant_message" in [m.message_type for m in letta.runs.messages.list(run_id)]
    assert letta.runs.usage.retrieve(run_id).total_tokens > 0
    [step] = list(letta.runs.steps.list(run_id))
    assert letta.runs.trace.retrieve(run_id)[0]["step_id"] == step.id
    assert letta.steps.retrieve(step.id).run_id == run_id and step.id in [
        s.id for s in letta.steps.list(agent_id=agent.id)
    ]
    assert [m.message_type for m in letta.steps.messages.list(step.id)] == ["assistant_message"]
    assert letta.steps.metrics.retrieve(step.id).llm_request_ns > 0
    assert letta.steps.trace.retrieve(step.id).response_json["content"] == "Hello there, penguin fan."
    assert letta.steps.feedback.create(step.id, feedback="positive").feedback == "positive"
    history = list(letta.agents.messages.list(agent.id))
    message_id = next(m.id for m in history if m.message_type == "assistant_message")
    assert letta.messages.retrieve(message_id)[0].id == message_id
    assert message_id in [m.id for m in letta.messages.list(limit=100)]
    assert letta.messages.search(query="penguins", search_mode="fts")[0].agent_id == agent.id
    scripted_llm.queue_text("Summary: penguins and greetings.")
    compacted = letta.agents.messages.compact(agent.id, compaction_settings={"mode": "all"})
    assert compacted.num_messages_after < compacted.num_messages_before
    reset = letta.agents.messages.reset(agent.id)
    assert len(reset.message_ids) <= 4


def _archival(letta, agent):
    own = letta.agents.passages.create(agent.id, text="The spare key is under the mat.")
    assert letta.agents.passages.search(agent.id, query="where is the key").results[0].content.startswith("The spare")
    assert own[0].id in [p.id for p in letta.agents.passages.list(agent.id)]
    letta.agents.passages.delete(own[0].id, agent_id=agent.id)
    archive = letta.archives.create(name="shared", embedding="local/all-minilm-l6-v2")
    assert letta.archives.retrieve(archive.id).name == "shared" and archive.id in [a.id for a in letta.archives.list()]
    assert letta.archives.update(archive.id, description="team").description == "team"
    one = letta.archives.passages.create(archive.id, text="Stand-up is at nine.")
    assert len(letta.archives.passages.create_many(archive.id, passages=[{"text": "Retro on Fridays."}])) == 1
    letta.agents.archives.attach(archive.id, agent_id=agent.id)
    assert letta.passages.search(query="when is stand-up", agent_id=agent.id)[0].passage.id == one.id
    letta.agents.archives.detach(archive.id, agent_id=agent.id)
    letta.archives.passages.delete(one.id, archive_id=archive.id)
    letta.archives.delete(archive.id)
    with pytest.raises(NotFoundError):
        letta.archives.retrieve(archive.id)


def _identities(letta, agent):
    identity = letta.post(
        "/v1/identities/",
        body={"identifier_key": "u1", "name": "U", "identity_type": "user"},
        cast_to=dict[str, Any],
    )
    letta.agents.identities.attach(identity["id"], agent_id=agent.id)
    assert [a.id for a in letta.agents.list(identity_id=identity["id"])] == [agent.id]
    letta.agents.identities.detach(identity["id"], agent_id=agent.id)
    assert list(letta.agents.list(identifier_keys=["u1"])) == []


def _folders_and_files(letta, agent):
    folder = letta.folders.create(name="cov-docs")
    assert letta.folders.retrieve(folder.id).name == "cov-docs" and folder.id in [f.id for f in letta.folders.list()]
    assert letta.folders.update(folder.id, description="d").description == "d"
    file = letta.folders.files.upload(folder.id, file=("a.md", b"# A\n\nAlpha.\n"))
    deadline = time.monotonic() + 30
    while letta.folders.files.retrieve(file.id, folder_id=folder.id).processing_status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert [f.id for f in letta.folders.files.list(folder.id)] == [file.id]
    letta.agents.folders.attach(folder.id, agent_id=agent.id)
    assert [f.id for f in letta.agents.folders.list(agent.id)] == [folder.id]
    assert agent.id in letta.folders.agents.list(folder.id)
    assert [f.file_name for f in letta.agents.files.list(agent.id).files] == ["a.md"]
    letta.agents.files.close(file.id, agent_id=agent.id)
    assert letta.agents.files.open(file.id, agent_id=agent.id) == []
    assert letta.agents.files.close_all(agent.id) == ["cov-docs/a.md"]
    letta.agents.folders.detach(folder.id, agent_id=agent.id)
    letta.folders.files.delete(file.id, folder_id=folder.id)
    letta.folders.delete(folder.id)


def _mcp(letta, server):
    config = {"mcp_server_type": "streamable_http", "server_url": server.url, "auth_token": TOKEN}
    created = letta.mcp_servers.create(server_name="cov-calc", config=config)
    assert [s.id for s in letta.mcp_servers.list()] == [created.id]
    assert letta.mcp_servers.retrieve(created.id).server_url == server.url
    assert letta.mcp_servers.update(created.id, server_name="cov-calc-2", config=config).server_name == "cov-calc-2"
    tools = {t.name: t for t in letta.mcp_servers.tools.list(created.id)}
    assert letta.mcp_servers.tools.retrieve(tools["add"].id, mcp_server_id=created.id).name == "add"
    assert (
        letta.mcp_servers.tools.run(tools["add"].id, mcp_server_id=created.id, args={"a": 2, "b": 3}).func_return == "5"
    )
    assert letta.mcp_servers.refresh(created.id)["error"] is None
    letta.mcp_servers.delete(created.id)


def _export_import_delete(letta, agent):
    exported = letta.agents.export_file(agent.id)
    assert json.loads(exported)["agents"][0]["name"] == "cov"
    [copy_id] = letta.agents.import_file(file=("cov.af", exported.encode())).agent_ids
    assert letta.agents.retrieve(copy_id).name == "cov_copy"
    letta.agents.delete(copy_id)
    with pytest.raises(NotFoundError):
        letta.agents.retrieve(copy_id)


def _conversations(letta, agent, scripted_llm):
    conv = letta.conversations.create(agent_id=agent.id, summary="cov")
    assert letta.conversations.retrieve(conv.id).id == conv.id
    assert conv.id in [c.id for c in letta.conversations.list(agent_id=agent.id)]
    assert letta.conversations.update(conv.id, summary="cov 2").summary == "cov 2"
    scripted_llm.queue_text("In a thread.")
    chunks = list(letta.conversations.messages.create(conv.id, input="hi thread", include_pings=False))
    said = [c.content for c in chunks if c.message_type == "assistant_message"]
    assert said == ["In a thread."]
    run_id = next(c.run_id for c in chunks if c.message_type == "assistant_message")
    resumed = list(letta.conversations.messages.stream(conv.id, run_id=run_id, include_pings=False))
    assert resumed and resumed[-1].message_type == "usage_statistics"
    listed = list(letta.conversations.messages.list(conv.id, order="asc"))
    assert "In a thread." in [getattr(m, "content", None) for m in listed]
    fork = letta.conversations.fork(conv.id)
    assert fork.id != conv.id
    assert isinstance(letta.conversations.recompile(conv.id), str)
    letta.conversations.cancel(conv.id)
    for i in range(2):
        scripted_llm.queue_text(f"more {i}")
        list(letta.conversations.messages.create(conv.id, input=f"more {i}", include_pings=False))
    scripted_llm.queue_text("Thread summary.")
    assert letta.conversations.messages.compact(conv.id, compaction_settings={"mode": "all"}).summary
    letta.conversations.delete(fork.id)
    with pytest.raises(NotFoundError):
        letta.conversations.retrieve(fork.id)


def _served_routes(live_server_url, alice_key) -> set[tuple[str, str]]:
    """(METHOD, path template) of every operation in the live server's OpenAPI document."""
    schema = httpx.get(f"{live_server_url}/v1/openapi.json", headers={"Authorization": f"Bearer {alice_key}"}).json()
    norm = lambda p: re.sub(r"\{[^}]*\}", "{}", p.rstrip("/"))  # noqa: E731
    return {(m.upper(), norm(p)) for p, ops in schema["paths"].items() for m in ops}


def test_every_open_source_operation_through_the_sdk(recorded, scripted_llm, mcp_server, live_server_url, alice_key):
    letta, recorder = recorded
    ops = sdk_operations()
    open_source = {name for name in ops if name not in CLOUD_NAMES}
    assert len(ops) == 129 and len(open_source) == 113  # letta-client 1.12.1

    routes = _served_routes(live_server_url, alice_key)
    has_route = {n for n in open_source if (ops[n][0], re.sub(r"\{[^}]*\}", "{}", ops[n][1].rstrip("/"))) in routes}
    agent = _agents_and_blocks(letta, scripted_llm)
    _tools(letta, agent, scripted_llm)
    _messages_runs_steps(letta, agent, scripted_llm)
    _archival(letta, agent)
    _identities(letta, agent)
    _folders_and_files(letta, agent)
    _mcp(letta, mcp_server)
    if any(n.startswith("conversations.") for n in has_route):
        _conversations(letta, agent, scripted_llm)
    _export_import_delete(letta, agent)
    letta.agents.delete(agent.id)

    served = recorder.served & open_source
    print(f"\nletta-client 1.12.1: {len(served)}/{len(open_source)} open-source operations served")
    missing = sorted(open_source - served)
    print("not served:", ", ".join(missing) or "none")
    assert served == has_route, f"routed but not exercised or failing: {sorted(has_route - served)}"
    assert missing == sorted(open_source - has_route)


def test_cloud_only_operations_answer_404_naming_them(live_server_url, alice_key):
    ops = sdk_operations()
    assert sorted(CLOUD_NAMES) == sorted(
        n
        for n in ops
        if n.split(".")[0] in ("templates", "environments", "access_tokens") or n.startswith("agents.schedule.")
    )
    agent_id = "agent-123e4567-e89b-42d3-8456-426614174000"
    with httpx.Client(base_url=live_server_url, headers={"Authorization": f"Bearer {alice_key}"}) as http:
        for name in sorted(CLOUD_NAMES):
            method, template = ops[name]
            path = re.sub(r"\{[^}]*\}", "x1", template).replace("agents/x1", f"agents/{agent_id}")
            response = http.request(method, path, json={} if method in ("POST", "PATCH") else None)
            assert response.status_code == 404, (name, response.status_code)
            assert response.json()["detail"].startswith(f"{name} is a Letta Cloud operation"), name
