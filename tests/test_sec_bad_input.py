"""Bad input found by hand and by schemathesis (issue 10, medium): each is a clear 4xx naming the problem, never
a 500 and never a half-written row."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client


def raw(api_key, method, path, body: bytes, content_type="application/json"):
    client = Client()
    return getattr(client, method)(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {api_key}")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_json_are_refused(alice_key, constant):
    r = raw(alice_key, "post", "/v1/blocks/", f'{{"label": "x", "value": "v", "limit": {constant}}}'.encode())
    assert r.status_code == 400 and constant.lstrip("-") in r.json()["detail"], r.content


def test_json_nested_too_deep_is_refused(alice_key):
    body = b'{"label": "x", "value": "v", "metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}"
    r = raw(alice_key, "post", "/v1/blocks/", body)
    assert r.status_code == 400 and "nested" in r.json()["detail"], r.content


@pytest.mark.parametrize("path", ["/v1/agents/import", "/v1/folders/{folder}/upload"])
def test_multipart_without_a_boundary_is_refused(alice_api, alice_key, path):
    folder = alice_api.post("/v1/folders/", {"name": "f"}).json()
    r = raw(alice_key, "post", path.format(folder=folder["id"]), b"--x\r\n", content_type="multipart/form-data")
    assert r.status_code == 400, r.content
    assert "multipart" in r.json()["detail"]


def test_agent_file_metadata_nested_too_deep_is_refused(alice_api):
    doc = {"agents": [], "blocks": [], "tools": [], "metadata": {}}
    text = json.dumps(doc).replace('"metadata": {}', '"metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000)
    r = alice_api.upload("/v1/agents/import", {"file": SimpleUploadedFile("a.af", text.encode())})
    assert r.status_code == 400, r.content


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_returned_by_a_tool_give_valid_json(alice_api):
    source = (
        "def odd() -> dict:\n"
        '    """Odd numbers."""\n'
        "    return {'nan': float('nan'), 'inf': [float('inf'), -float('inf')], 'ok': 1.5}\n"
    )
    r = alice_api.post("/v1/tools/run", {"source_code": source, "args": {}})
    assert r.status_code == 200, r.content
    body = strict_json(r.content.decode())
    assert body["status"] == "success", body
    assert body["tool_return"] in (
        {"nan": "NaN", "inf": ["Infinity", "-Infinity"], "ok": 1.5},
        json.dumps({"nan": "NaN", "inf": ["Infinity", "-Infinity"], "ok": 1.5}),
    ), body


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/v1/agents/", {"name": "a", "max_files_open": True}, "max_files_open"),
        ("post", "/v1/agents/", {"name": "a", "hidden": 0}, "hidden"),
        (
            "post",
            "/v1/agents/",
            {"name": "a", "llm_config": {"model": "m", "model_endpoint_type": "openai", "context_window": True}},
            "context_window",
        ),  # fmt: skip
        ("post", "{agent}/archival-memory", {"text": "t", "created_at": -2438}, "created_at"),
        (
            "patch",
            "{folder}",
            {"embedding_config": {"embedding_endpoint_type": "openai", "embedding_model": "x", "embedding_dim": True}},
            "embedding_dim",
        ),  # fmt: skip
    ],
)
def test_no_coercion_between_json_kinds(alice_api, method, path, body, field):
    agent = alice_api.post("/v1/agents/", {"name": "target"}).json()
    folder = alice_api.post("/v1/folders/", {"name": "target"}).json()
    path = path.format(agent=f"/v1/agents/{agent['id']}", folder=f"/v1/folders/{folder['id']}")
    r = getattr(alice_api, method)(path, body)
    assert r.status_code == 422 and field in r.json()["detail"], r.content
    assert alice_api.get(f"/v1/folders/{folder['id']}").json()["embedding_config"] == folder["embedding_config"]


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ({"role": "user", "content": "hi", "colour": "red"}, "body.messages.0.message.colour: Extra inputs"),
        ({"role": "user"}, "body.messages.0.message.content: Field required"),
        ({"type": "shout", "role": "user", "content": "hi"}, "'message', 'approval', 'tool_return'"),
        ({"tool_returns": "nope"}, "body.messages.0.tool_return.tool_returns: Input should be a valid list"),
    ],
)
def test_a_bad_input_message_gets_the_error_of_its_own_kind_only(alice_api, message, detail):
    agent = alice_api.post("/v1/agents/", {"name": "target"}).json()
    before = alice_api.get(f"/v1/agents/{agent['id']}/messages").json()
    r = alice_api.post(f"/v1/agents/{agent['id']}/messages", {"messages": [message]})
    assert r.status_code == 422 and detail in r.json()["detail"], r.content
    assert len(r.json()["errors"]) == len(r.json()["detail"].split("; ")), r.content
    assert "function-wrap" not in r.json()["detail"]  # not one error per kind of message, under validator names
    assert alice_api.get(f"/v1/agents/{agent['id']}/messages").json() == before


def test_a_superuser_from_createsuperuser_can_create_things(db, monkeypatch):
    from django.core.management import call_command

    from accounts.actions import create_api_key
    from accounts.models import User
    from tests.apiclient import ApiClient

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long password 123")
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com", verbosity=0)
    root = User.objects.get(username="root")
    assert root.organization_id is not None
    api = ApiClient(create_api_key(root, "k")[1])
    for path, body in [("/v1/blocks/", {"label": "x", "value": "v"}), ("/v1/agents/", {"name": "a"}),
                       ("/v1/folders/", {"name": "f"}), ("/v1/tools/", {"source_code": "def f() -> str:\n    \"\"\"F.\"\"\"\n    return 'x'\n"})]:  # fmt: skip
        assert api.post(path, body).status_code == 200, (path, api.post(path, body).content)


def test_a_user_left_without_an_organization_gets_one_at_login(db):
    from accounts.models import User

    User.objects.create_user("legacy", password="a long password 123")
    User.objects.filter(username="legacy").update(organization=None)  # as an older database may hold
    client = Client()
    assert client.post("/login/", {"username": "legacy", "password": "a long password 123"}).status_code == 302
    assert User.objects.get(username="legacy").organization_id is not None


def test_the_block_history_page_renders_without_htmx(alice):
    from django.urls import reverse

    from agents.actions import create_agent

    agent = create_agent(alice, {"name": "a", "memory_blocks": [{"label": "human", "value": "Name: Ada"}]})
    block = agent.blocks.get(label="human")
    client = Client()
    client.force_login(alice)
    r = client.get(reverse("agents:block_history", args=[agent.id, block.id]))  # a plain link, no HX-Request
    assert r.status_code == 200 and "<title>History of human" in r.content.decode()
    assert "History of <code>human</code>" in r.content.decode()  # the partial got the block, not a template tag
