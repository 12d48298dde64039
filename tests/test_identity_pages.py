"""The agents list page filters by identity (the end user an app serves), within the organization only."""

import pytest
from django.urls import reverse

from agents.actions import create_agent
from agents.identities import create_identity

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_agents_list_filters_by_identity(alice, mallory, client):
    ada = create_identity(alice, {"identifier_key": "ada", "name": "Ada", "identity_type": "user"})
    theirs = create_identity(mallory, {"identifier_key": "eve", "name": "Eve", "identity_type": "user"})
    create_agent(alice, {"name": "Ada's helper", "model": "engram/scripted", "identity_ids": [ada.id]})
    create_agent(alice, {"name": "Shared helper", "model": "engram/scripted"})
    client.force_login(alice)

    page = client.get(reverse("agents:list")).content.decode()
    # The other organization's identity by its id and its label (a bare "Eve" also turned up inside a random token).
    assert f'<option value="{ada.id}"' in page and theirs.id not in page and ">Eve" not in page
    filtered = client.get(reverse("agents:list"), {"identity": ada.id}, **HTMX).content.decode()
    assert "Ada&#x27;s helper" in filtered and "Shared helper" not in filtered
    foreign = client.get(reverse("agents:list"), {"identity": theirs.id}, **HTMX).content.decode()
    assert "helper" not in foreign
