"""Our OpenAPI document against the reference server's (letta 0.16.8): request bodies refuse unknown fields, so
every field and query parameter a Letta client may send on an operation we serve must be one we accept."""

import json
from pathlib import Path

import pytest

REFERENCE = json.loads(Path("/work/shared/spec/letta-0.16.8-openapi.json").read_text())
# A GET with a body in the reference (its export options); clients send them as query parameters.
IGNORED = {("get", "/v1/agents/{agent_id}/export")}
SDK_ROUTES = [  # the operations of letta-client 1.12.1 in the scope of Engram's API
    ("get", "/v1/health/"),
    ("get", "/v1/models/"),
    ("get", "/v1/models/embedding"),
    ("post", "/v1/agents/"),
    ("get", "/v1/agents/"),
    ("get", "/v1/agents/{agent_id}"),
    ("patch", "/v1/agents/{agent_id}"),
    ("delete", "/v1/agents/{agent_id}"),
    ("get", "/v1/agents/{agent_id}/export"),
    ("post", "/v1/agents/import"),
    ("post", "/v1/agents/{agent_id}/recompile"),
    ("get", "/v1/agents/{agent_id}/core-memory/blocks"),
    ("get", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}"),
    ("patch", "/v1/agents/{agent_id}/core-memory/blocks/{block_label}"),
    ("patch", "/v1/agents/{agent_id}/core-memory/blocks/attach/{block_id}"),
    ("patch", "/v1/agents/{agent_id}/core-memory/blocks/detach/{block_id}"),
    ("post", "/v1/blocks/"),
    ("get", "/v1/blocks/"),
    ("get", "/v1/blocks/{block_id}"),
    ("patch", "/v1/blocks/{block_id}"),
    ("delete", "/v1/blocks/{block_id}"),
    ("get", "/v1/blocks/{block_id}/agents"),
    ("post", "/v1/agents/{agent_id}/messages"),
    ("post", "/v1/agents/{agent_id}/messages/stream"),
    ("post", "/v1/agents/{agent_id}/messages/async"),
    ("get", "/v1/agents/{agent_id}/messages"),
    ("patch", "/v1/agents/{agent_id}/reset-messages"),
    ("post", "/v1/agents/{agent_id}/messages/cancel"),
    ("get", "/v1/runs/"),
    ("get", "/v1/runs/{run_id}"),
    ("get", "/v1/runs/{run_id}/messages"),
    ("get", "/v1/runs/{run_id}/steps"),
    ("get", "/v1/runs/{run_id}/usage"),
    ("post", "/v1/runs/{run_id}/stream"),
    ("get", "/v1/agents/{agent_id}/archival-memory"),
    ("post", "/v1/agents/{agent_id}/archival-memory"),
    ("get", "/v1/agents/{agent_id}/archival-memory/search"),
    ("delete", "/v1/agents/{agent_id}/archival-memory/{memory_id}"),
    ("post", "/v1/tools/"),
    ("put", "/v1/tools/"),
    ("get", "/v1/tools/"),
    ("get", "/v1/tools/{tool_id}"),
    ("patch", "/v1/tools/{tool_id}"),
    ("delete", "/v1/tools/{tool_id}"),
    ("get", "/v1/agents/{agent_id}/tools"),
    ("patch", "/v1/agents/{agent_id}/tools/attach/{tool_id}"),
    ("patch", "/v1/agents/{agent_id}/tools/detach/{tool_id}"),
    ("patch", "/v1/agents/{agent_id}/tools/approval/{tool_name}"),
    ("post", "/v1/agents/{agent_id}/tools/{tool_name}/run"),
    ("post", "/v1/folders/"),
    ("get", "/v1/folders/"),
    ("get", "/v1/folders/{folder_id}"),
    ("patch", "/v1/folders/{folder_id}"),
    ("delete", "/v1/folders/{folder_id}"),
    ("post", "/v1/folders/{folder_id}/upload"),
    ("get", "/v1/folders/{folder_id}/files"),
    ("get", "/v1/folders/{folder_id}/files/{file_id}"),
    ("delete", "/v1/folders/{folder_id}/{file_id}"),
    ("get", "/v1/folders/{folder_id}/agents"),
    ("get", "/v1/agents/{agent_id}/folders"),
    ("patch", "/v1/agents/{agent_id}/folders/attach/{folder_id}"),
    ("patch", "/v1/agents/{agent_id}/folders/detach/{folder_id}"),
    ("get", "/v1/agents/{agent_id}/files"),
]


@pytest.fixture(scope="module")
def ours():
    from ade.api import api

    return api.get_openapi_schema()


def _resolve(doc, schema):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _body_fields(doc, operation) -> set:
    fields = set()
    for content in (operation.get("requestBody") or {}).get("content", {}).values():
        schema = _resolve(doc, content["schema"])
        for option in schema.get("anyOf", [schema]):
            fields |= set(_resolve(doc, option).get("properties", {}))
    return fields


def _query(operation) -> set:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def test_every_sdk_operation_in_scope_is_served(ours):
    missing = [f"{m.upper()} {p}" for m, p in SDK_ROUTES if m not in ours["paths"].get(p, {})]
    assert missing == []


def test_we_accept_every_field_the_reference_accepts(ours):
    gaps = []
    for path, operations in REFERENCE["paths"].items():
        for method, reference in operations.items():
            mine = ours["paths"].get(path, {}).get(method)
            if mine is None or (method, path) in IGNORED:
                continue
            for kind, theirs, have in (
                ("body", _body_fields(REFERENCE, reference), _body_fields(ours, mine)),
                ("query", _query(reference), _query(mine)),
            ):
                gaps += [f"{method.upper()} {path} {kind}.{name}" for name in sorted(theirs - have)]
    assert gaps == []
