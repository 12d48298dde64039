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
