"""Every write route, found by walking the OpenAPI document and the page URL patterns (so a route added later is
covered without editing this file): a viewer's write is refused with 403 and changes nothing; an editor's write to
an admin route likewise. The allowed side is exercised route by route in tests/test_team_roles.py."""

import re

import pytest
from django.urls import URLPattern, get_resolver

from accounts.actions import create_api_key, create_user
from accounts.routes import action_for
from ade.api import api
from agents.actions import create_agent
from tests.apiclient import ApiClient
from tests.test_team_roles import state

WRITES = ("post", "put", "patch", "delete")


@pytest.fixture
def setup(org, alice):
    agent = create_agent(alice, {"name": "shared", "memory_blocks": [{"label": "human", "value": "Ann"}]})
    ids = {"agent_id": agent.id, "block_id": agent.blocks.get().id}
    users = {
        role: create_user(f"{role}-x", "correct horse battery", organization=org, role=role)
        for role in ("editor", "viewer")
    }
    return org, ids, users


def fill(path: str, ids: dict) -> str:
    return re.sub(r"\{(\w+)\}|<(?:\w+:)?(\w+)>", lambda m: ids.get(m.group(1) or m.group(2), "x-1"), path)


def api_writes():
    for path, operations in api.get_openapi_schema()["paths"].items():
        for method in operations:
            if method in WRITES:
                yield method, path


def page_writes(patterns=None, prefix=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(("admin/", "v1/", "^v1/")):
            continue  # the API is walked from its OpenAPI document; the Django admin is staff-only
        if isinstance(entry, URLPattern):
            if not re.search(r"[(\[]", route):  # regular-expression routes (catch-alls) have no single path
                yield "/" + route.lstrip("^").rstrip("$")
        else:
            yield from page_writes(entry.url_patterns, route)


def expected_refusal(role: str, method: str, path: str) -> bool:
    action = action_for(method.upper(), path)
    if action in (None, "read"):
        return False
    return role == "viewer" or action in ("manage", "own")


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_every_api_write_is_refused_beyond_the_role(setup, role):
    org, ids, users = setup
    client = ApiClient(create_api_key(users[role])[1])
    checked = 0
    for method, template in api_writes():
        path = fill(template, ids)
        if not expected_refusal(role, method, path):
            continue
        before = state(org.id)
        response = client.call(method, path, {})
        assert response.status_code == 403, (role, method, path, response.status_code)
        assert state(org.id) == before, (role, method, path)
        checked += 1
    assert checked >= (60 if role == "viewer" else 10)  # the walk really found the routes


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_every_page_write_is_refused_beyond_the_role(setup, role, client):
    org, ids, users = setup
    client.force_login(users[role])
    checked = 0
    for template in page_writes():
        path = fill(template, ids)
        if not expected_refusal(role, "post", path):
            continue
        before = state(org.id)
        response = client.post(path, {"value": "x", "name": "x", "text": "x", "version": 1}, HTTP_HX_REQUEST="true")
        assert response.status_code == 403, (role, path, response.status_code)
        assert state(org.id) == before, (role, path)
        checked += 1
    assert checked >= (30 if role == "viewer" else 3)
