"""MCP servers against real MCP servers (tests/servers/mcp_test_server.py, written with the `mcp` package's own
server API) over streamable HTTP, SSE and stdio: the /v1 API, tools in an agent's turn, refresh, dead servers,
and secrets that never leave masked."""

import json
import logging
import os
from pathlib import Path

import mcp as mcp_package
import pytest

from tests.servers.remote import SCRIPT, TOKEN, MCPTestServer
from tools.models import MCPServer, Tool

SERVER = SCRIPT


@pytest.fixture(scope="module")
def http_server():
    server = MCPTestServer("http").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sse_server():
    server = MCPTestServer("sse").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.ALLOWED_MODEL_HOSTS = ["127.0.0.1"]


def _remote_config(url, kind="streamable_http", **extra):
    return {"mcp_server_type": kind, "server_url": url, "auth_token": TOKEN, **extra}


def _create(api, name, config):
    response = api.post("/v1/mcp-servers/", {"server_name": name, "config": config})
    assert response.status_code == 200, response.content
    return response.json()


def _tools(api, server_id):
    return {t["name"]: t for t in api.get(f"/v1/mcp-servers/{server_id}/tools").json()}


def test_streamable_http_server_lists_and_runs_tools_with_secrets_masked(alice_api, mallory_api, http_server, caplog):
    caplog.set_level(logging.DEBUG)
    config = _remote_config(http_server.url, custom_headers={"X-Team": "blue-secret-header-value"})
    server = _create(alice_api, "calc", config)
    assert server["mcp_server_type"] == "streamable_http" and server["server_url"] == http_server.url
    assert server["auth_token"] == "****" + TOKEN[-4:]
    assert server["custom_headers"] == {"X-Team": "****alue"}

    tools = _tools(alice_api, server["id"])
    assert {"add", "echo", "learn_more"} <= set(tools)
    add = tools["add"]
    assert add["tool_type"] == "external_mcp" and add["metadata_"]["mcp"]["server_name"] == "calc"
    assert add["json_schema"]["parameters"]["required"] == ["a", "b"]
    assert alice_api.get(f"/v1/mcp-servers/{server['id']}/tools/{add['id']}").json()["name"] == "add"

    ran = alice_api.post(f"/v1/mcp-servers/{server['id']}/tools/{add['id']}/run", {"args": {"a": 2, "b": 40}})
    assert ran.status_code == 200 and ran.json()["status"] == "success" and ran.json()["func_return"] == "42"

    # Another organization sees none of it.
    assert mallory_api.get(f"/v1/mcp-servers/{server['id']}").status_code == 404
    assert mallory_api.get("/v1/mcp-servers/").json() == []

    # The secrets are encrypted at rest and never in a response or a log line.
    stored = MCPServer.objects.get(id=server["id"])
    seen = [stored.secrets, caplog.text]
    seen += [alice_api.get(p).content.decode() for p in ("/v1/mcp-servers/", f"/v1/mcp-servers/{server['id']}")]
    seen.append(alice_api.get("/v1/tools/mcp/servers").content.decode())
    assert not any(TOKEN in text or "blue-secret-header-value" in text for text in seen)


def test_a_wrong_token_is_a_readable_error_and_no_tools(alice_api, http_server):
    server = _create(alice_api, "locked", {**_remote_config(http_server.url), "auth_token": "wrong-token-123456"})
    assert _tools(alice_api, server["id"]) == {}
    refreshed = alice_api.patch(f"/v1/mcp-servers/{server['id']}/refresh").json()
    assert refreshed["error"] and "locked" in refreshed["error"] and "wrong-token" not in refreshed["error"]


def test_sse_server(alice_api, sse_server):
    server = _create(alice_api, "over-sse", _remote_config(sse_server.url, kind="sse"))
    echo = _tools(alice_api, server["id"])["echo"]
    ran = alice_api.post(f"/v1/mcp-servers/{server['id']}/tools/{echo['id']}/run", {"args": {"text": "hi"}}).json()
    assert ran["func_return"] == "echo: hi"


def test_update_rename_and_delete(alice_api, http_server):
    server = _create(alice_api, "first", _remote_config(http_server.url))
    changed = alice_api.patch(
        f"/v1/mcp-servers/{server['id']}",
        {"server_name": "second", "config": {"mcp_server_type": "streamable_http", "server_url": http_server.url}},
    )
    assert changed.status_code == 200 and changed.json()["server_name"] == "second"
    assert changed.json()["auth_token"] == "****" + TOKEN[-4:]  # kept: not given again
    assert Tool.objects.get(name="add").metadata["mcp"]["server_name"] == "second"
    kind_change = alice_api.patch(f"/v1/mcp-servers/{server['id']}", {"config": {"mcp_server_type": "sse"}})
    assert kind_change.status_code == 400 and "mcp_server_type" in kind_change.json()["detail"]
    assert alice_api.delete(f"/v1/mcp-servers/{server['id']}").status_code == 204
    assert not Tool.objects.filter(tool_type="external_mcp").exists()
    assert alice_api.get(f"/v1/mcp-servers/{server['id']}").status_code == 404


@pytest.mark.parametrize(
    "config, field",
    [
        ({"mcp_server_type": "ftp", "server_url": "x"}, "mcp_server_type"),
        ({"mcp_server_type": "streamable_http", "server_url": "file:///etc/passwd"}, "server_url"),
        ({"mcp_server_type": "streamable_http", "server_url": "http://u:p@127.0.0.1/mcp"}, "server_url"),
        (
            {"mcp_server_type": "streamable_http", "server_url": "http://127.0.0.1/m", "custom_headers": {"a": 1}},
            "custom",
        ),
        ({"mcp_server_type": "sse", "server_url": "http://127.0.0.1/sse", "command": "ls"}, "command"),
    ],
)
def test_bad_configs_are_refused_naming_the_field(alice_api, config, field):
    response = alice_api.post("/v1/mcp-servers/", {"server_name": "bad", "config": config})
    assert response.status_code == 400 and field in response.json()["detail"]
    assert not MCPServer.objects.exists()


def test_internal_hosts_are_refused_unless_the_operator_allows_them(alice_api, settings):
    settings.ALLOWED_MODEL_HOSTS = []
    response = alice_api.post(
        "/v1/mcp-servers/", {"server_name": "inside", "config": _remote_config("http://127.0.0.1:9/mcp")}
    )
    assert response.status_code == 400 and "ALLOWED_MODEL_HOSTS" in response.json()["detail"]


def test_an_agent_calls_an_mcp_tool_in_a_turn_and_survives_a_dead_server(alice_api, http_server, scripted_llm):
    server = _create(alice_api, "calc", _remote_config(http_server.url))
    tools = _tools(alice_api, server["id"])
    agent = alice_api.post(
        "/v1/agents/", {"model": "engram/scripted", "tool_ids": [tools["add"]["id"], tools["crash"]["id"]]}
    ).json()

    scripted_llm.queue_tool_call("add", {"a": 19, "b": 23}, id="call_add")
    scripted_llm.queue_text("It is 42.")
    reply = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "What is 19 + 23?"}).json()
    returns = [m for m in reply["messages"] if m["message_type"] == "tool_return_message"]
    assert returns[0]["status"] == "success" and returns[0]["tool_return"] == "42"
    assert returns[0]["stdout"][0].startswith("[mcp] calc answered in ")
    assert reply["messages"][-1]["content"] == "It is 42."

    # The server dies in the middle of a call: the model reads a tool error and the turn goes on.
    scripted_llm.queue_tool_call("crash", {}, id="call_crash")
    scripted_llm.queue_text("The tool failed.")
    reply = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "Crash it"}).json()
    crashed = [m for m in reply["messages"] if m["message_type"] == "tool_return_message"][0]
    assert crashed["status"] == "error" and "calc" in crashed["tool_return"]
    assert reply["stop_reason"]["stop_reason"] == "end_turn" and reply["messages"][-1]["content"] == "The tool failed."
    http_server.restart()


def test_refresh_picks_up_new_tools_and_reports_vanished_attached_ones(alice_api, http_server, scripted_llm):
    http_server.restart()
    server = _create(alice_api, "growing", _remote_config(http_server.url))
    learn = _tools(alice_api, server["id"])["learn_more"]
    alice_api.post(f"/v1/mcp-servers/{server['id']}/tools/{learn['id']}/run", {"args": {}})
    refreshed = alice_api.patch(f"/v1/mcp-servers/{server['id']}/refresh").json()
    assert refreshed["added"] == ["multiply"] and refreshed["error"] is None
    multiply = _tools(alice_api, server["id"])["multiply"]
    agent = alice_api.post("/v1/agents/", {"model": "engram/scripted", "tool_ids": [multiply["id"]]}).json()

    http_server.restart()  # a fresh process no longer offers multiply
    refreshed = alice_api.patch(f"/v1/mcp-servers/{server['id']}/refresh").json()
    assert refreshed["missing"] == ["multiply"] and refreshed["deleted"] == []
    attached = [t["name"] for t in alice_api.get(f"/v1/agents/{agent['id']}/tools").json()]
    assert "multiply" in attached  # never silently dropped
    scripted_llm.queue_tool_call("multiply", {"a": 6, "b": 7}, id="call_mul")
    scripted_llm.queue_text("Could not multiply.")
    reply = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"input": "6 times 7?"}).json()
    failed = [m for m in reply["messages"] if m["message_type"] == "tool_return_message"][0]
    assert failed["status"] == "error" and "no longer offers" in failed["tool_return"]


def test_stdio_server_runs_in_the_tool_sandbox(alice_api, monkeypatch, settings, tmp_path):
    """The server's code and packages are shown read-only (MCP_STDIO_PATHS); nothing else of this host is."""
    site_packages = str(Path(mcp_package.__file__).parents[1])
    settings.MCP_STDIO_PATHS = [site_packages, str(Path(SCRIPT).parent)]
    monkeypatch.setenv("ENGRAM_TEST_SERVER_SECRET", "do-not-leak-this")
    secret_file = Path(settings.BASE_DIR) / "var" / "secret_key"
    env = {"GREETING": "hi", "PYTHONPATH": site_packages}
    config = {"mcp_server_type": "stdio", "command": "/usr/bin/python3", "args": [SCRIPT, "stdio"], "env": env}
    server = _create(alice_api, "local", config)
    assert server["env"] == {"GREETING": "****", "PYTHONPATH": "****" + site_packages[-4:]}
    tools = _tools(alice_api, server["id"])
    assert {"add", "secret_env", "read_path", "connect"} <= set(tools), server

    def run(tool, **args):
        response = alice_api.post(f"/v1/mcp-servers/{server['id']}/tools/{tools[tool]['id']}/run", {"args": args})
        return response.json()["func_return"]

    assert run("add", a=2, b=2) == "4"
    assert run("secret_env", name="GREETING") == "hi"
    assert run("secret_env", name="ENGRAM_TEST_SERVER_SECRET") == "<unset>"
    assert run("secret_env", name="SECRET_KEY") == "<unset>"
    assert run("read_path", path=str(secret_file)) == "<FileNotFoundError>"
    assert run("read_path", path=str(Path(settings.BASE_DIR) / "manage.py")) == "<FileNotFoundError>"
    # Its own PID namespace: this (server) process does not exist in there.
    assert run("read_path", path=f"/proc/{os.getpid()}/environ") in ("<FileNotFoundError>", "<PermissionError>")
    db = settings.DATABASES["default"]
    port = int(db.get("PORT") or 0) or 6390
    assert run("connect", host="127.0.0.1", port=port).startswith("<")


def test_legacy_routes_by_server_name(alice_api, http_server):
    legacy = {"server_url": http_server.url, "auth_token": TOKEN}
    added = alice_api.put("/v1/tools/mcp/servers", {"server_name": "old", "type": "streamable_http", **legacy})
    assert added.status_code == 200, added.content
    listed = alice_api.get("/v1/tools/mcp/servers").json()
    assert listed["old"]["type"] == "streamable_http" and listed["old"]["auth_token"] == "****" + TOKEN[-4:]
    tools = alice_api.get("/v1/tools/mcp/servers/old/tools").json()
    assert {"name", "description", "inputSchema"} <= set(tools[0])
    ran = alice_api.post("/v1/tools/mcp/servers/old/tools/add/execute", {"args": {"a": 1, "b": 2}}).json()
    assert ran["func_return"] == "3"
    probe = alice_api.post("/v1/tools/mcp/servers/test", {"server_name": "x", **legacy}).json()
    assert probe["status"] == "ok" and "add" in [t["name"] for t in probe["tools"]]
    renamed = alice_api.patch("/v1/tools/mcp/servers/old", {"server_name": "older", "custom_headers": {"X-A": "b"}})
    assert renamed.status_code == 200 and renamed.json()["server_name"] == "older"
    assert renamed.json()["auth_token"] == "****" + TOKEN[-4:] and renamed.json()["custom_headers"] == {"X-A": "****"}
    assert alice_api.delete("/v1/tools/mcp/servers/older").json() == []


def test_export_carries_servers_without_secrets(alice_api, http_server):
    server = _create(alice_api, "calc", _remote_config(http_server.url))
    add = _tools(alice_api, server["id"])["add"]
    agent = alice_api.post("/v1/agents/", {"model": "engram/scripted", "tool_ids": [add["id"]]}).json()
    exported = alice_api.get(f"/v1/agents/{agent['id']}/export").content.decode()
    assert TOKEN not in exported
    document = json.loads(exported)
    assert [(s["server_name"], s["server_url"]) for s in document["mcp_servers"]] == [("calc", http_server.url)]
    assert document["tools"][-1]["metadata_"]["mcp"]["server_id"] == document["mcp_servers"][0]["id"]

    # Imported elsewhere: the server comes without credentials and says so; the tool is linked to it.
    other = _other_org_api()
    imported = other.upload("/v1/agents/import", {"file": _af_upload(exported)})
    assert imported.status_code == 200, imported.content
    server_row = MCPServer.objects.exclude(id=server["id"]).get()
    assert server_row.secrets == "" and "enter them again" in server_row.last_error
    assert Tool.objects.get(mcp_server=server_row, name="add").tool_type == "external_mcp"


def _other_org_api():
    from accounts.actions import create_api_key, create_user
    from tests.apiclient import ApiClient

    return ApiClient(create_api_key(create_user("olga", "correct horse battery", org_name="Other"), "t")[1])


def _af_upload(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("agent.af", text.encode(), content_type="application/json")


def test_mcp_servers_page_tests_adds_refreshes_and_removes(client, alice, http_server):
    client.force_login(alice)
    page = client.get("/mcp-servers/")
    assert page.status_code == 200 and b"No MCP servers yet" in page.content
    form = {"server_name": "calc", "server_type": "streamable_http", "server_url": http_server.url}
    form |= {"auth_token": TOKEN, "custom_headers": "X-Team: blue-secret-header-value"}

    tested = client.post("/mcp-servers/", {**form, "test": "1"}, HTTP_HX_REQUEST="true")
    assert b"Connected: 8 tools" in tested.content and not MCPServer.objects.exists()
    bad = client.post("/mcp-servers/", {**form, "custom_headers": "no separator"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and b"Line 1" in bad.content

    added = client.post("/mcp-servers/", form, HTTP_HX_REQUEST="true")
    assert b"Added calc with 8 tools" in added.content
    server = MCPServer.objects.get()
    assert b'<code class="item-title">add</code>' in added.content and b"Add two integers." in added.content
    refreshed = client.post(f"/mcp-servers/{server.id}/refresh/", HTTP_HX_REQUEST="true")
    assert b"Refreshed: 0 added" in refreshed.content
    for html in (added.content, refreshed.content, client.get("/mcp-servers/").content):
        assert TOKEN.encode() not in html and b"blue-secret-header-value" not in html
    # A member who is not an admin sees the servers but no form to change them.
    from accounts.actions import create_user

    client.force_login(create_user("eve", "correct horse battery", organization=alice.organization, role="editor"))
    seen = client.get("/mcp-servers/").content
    assert b"calc" in seen and b'id="mcp-add-form"' not in seen and b"Remove</button>" not in seen
    client.force_login(alice)

    removed = client.post(f"/mcp-servers/{server.id}/delete/", HTTP_HX_REQUEST="true")
    assert b"No MCP servers yet" in removed.content and not MCPServer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_every_mcp_servers_operation_through_the_sdk(live_server_url, alice_key, http_server):
    """letta-client's mcp_servers.* against a live server, with strict response validation."""
    from letta_client import Letta, NotFoundError

    with Letta(base_url=live_server_url, api_key=alice_key, _strict_response_validation=True, max_retries=0) as sdk:
        created = sdk.mcp_servers.create(server_name="sdk-calc", config=_remote_config(http_server.url))
        assert created.server_name == "sdk-calc" and created.auth_token == "****" + TOKEN[-4:]
        assert [s.id for s in sdk.mcp_servers.list()] == [created.id]
        assert sdk.mcp_servers.retrieve(created.id).server_url == http_server.url
        updated = sdk.mcp_servers.update(
            created.id,
            server_name="sdk-calc-2",
            config={"mcp_server_type": "streamable_http", "server_url": http_server.url},
        )
        assert updated.server_name == "sdk-calc-2" and updated.auth_token == "****" + TOKEN[-4:]
        tools = {t.name: t for t in sdk.mcp_servers.tools.list(created.id)}
        assert tools["add"].tool_type == "external_mcp"
        assert sdk.mcp_servers.tools.retrieve(tools["add"].id, mcp_server_id=created.id).name == "add"
        result = sdk.mcp_servers.tools.run(tools["add"].id, mcp_server_id=created.id, args={"a": 3, "b": 4})
        assert result.status == "success" and result.func_return == "7"
        summary = sdk.mcp_servers.refresh(created.id)
        assert summary["added"] == [] and summary["error"] is None
        sdk.mcp_servers.delete(created.id)
        with pytest.raises(NotFoundError):
            sdk.mcp_servers.retrieve(created.id)


def test_only_admins_manage_servers_and_every_change_is_audited(alice, alice_api, org, http_server):
    from accounts.actions import create_api_key, create_user
    from accounts.models import AuditEntry
    from tests.apiclient import ApiClient

    editor = ApiClient(
        create_api_key(create_user("eddie", "correct horse battery", organization=org, role="editor"), "t")[1]
    )
    refused = editor.post("/v1/mcp-servers/", {"server_name": "calc", "config": _remote_config(http_server.url)})
    assert refused.status_code == 403 and not MCPServer.objects.exists()

    server = _create(alice_api, "calc", _remote_config(http_server.url))
    assert editor.get(f"/v1/mcp-servers/{server['id']}").status_code == 200  # reading is for every member
    assert editor.delete(f"/v1/mcp-servers/{server['id']}").status_code == 403
    alice_api.patch(f"/v1/mcp-servers/{server['id']}", {"server_name": "calc2"})
    alice_api.delete(f"/v1/mcp-servers/{server['id']}")
    entries = list(
        AuditEntry.objects.filter(object_id=server["id"]).order_by("created_at").values_list("action", "actor_name")
    )
    assert [a for a, _ in entries] == [
        "mcp_server.create",
        "mcp_server.refresh",
        "mcp_server.update",
        "mcp_server.delete",
    ]
    assert all(name.startswith("alice") for _, name in entries)
    assert not any(TOKEN in e.summary for e in AuditEntry.objects.all())
