"""The ADE pages through the Django test client: every screen and partial renders, forms validate inline,
CSRF is enforced, sign-in is required, and another organization's agents are a 404."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from agents.actions import create_agent
from agents.templates_catalog import BY_KEY, blank_spec
from memory.actions import Actor, update_block
from memory.models import BlockHistory

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def agent(alice):
    return create_agent(alice, BY_KEY["personal_assistant"].spec("Helper"))


@pytest.fixture
def client(alice):
    return signed_in(alice)


def human(agent):
    return agent.blocks.get(label="human")


# ---- sign-in, sign-out, access ----------------------------------------------------------------------------------


def test_pages_require_sign_in(agent):
    anonymous = Client()
    for url in (reverse("agents:list"), reverse("agents:workspace", args=[agent.id]),
                reverse("accounts:api_keys")):
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_sign_in_and_out(alice):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    bad = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and b"Please enter a correct username and password" in bad.content
    ok = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_another_organization_gets_404_everywhere(agent, mallory):
    client = signed_in(mallory)
    block = human(agent)
    for url in (reverse("agents:workspace", args=[agent.id]), reverse("agents:memory", args=[agent.id]),
                reverse("agents:block_history", args=[agent.id, block.id]), reverse("agents:export", args=[agent.id]),
                reverse("agents:context", args=[agent.id])):
        assert client.get(url).status_code == 404, url
    saved = client.post(reverse("agents:block_save", args=[agent.id, block.id]), {"version": 1, "value": "pwned"})
    assert saved.status_code == 404
    assert "pwned" not in human(agent).value
    assert agent.name not in client.get(reverse("agents:list")).content.decode()


def test_csrf_is_enforced_on_forms(agent, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(reverse("agents:workspace", args=[agent.id]))
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.content.decode()).group(1)  # hx-headers on <body>
    url = reverse("agents:block_save", args=[agent.id, human(agent).id])
    data = {"version": human(agent).version, "value": "Name: Ada", "read_only_present": "1"}
    assert client.post(url, data).status_code == 403
    assert client.post(url, data, HTTP_X_CSRFTOKEN=token, **HTMX).status_code == 200
    assert human(agent).value == "Name: Ada"
