"""Line endings (#15, broken 3): browsers send textareas with CRLF. Every write path — admin, API, pages, memory
tools — stores LF only, so the shown count equals the stored length, history shows only real changes, and no
`\\r` reaches the prompt."""

import pytest
from django.test import Client
from django.urls import reverse

from agents.actions import create_agent
from agents.pages.templates_catalog import BY_KEY
from memory.actions import Actor, create_block, update_block
from memory.context import compile_system_prompt
from memory.models import Block
from tests.apiclient import ApiClient

pytestmark = pytest.mark.django_db
CRLF = "Name: Ada\r\nLikes: tea\r\nOld Mac line\rend"
LF = "Name: Ada\nLikes: tea\nOld Mac line\nend"


@pytest.fixture
def agent(alice):
    return create_agent(alice, BY_KEY["personal_assistant"].spec("Helper"))


def test_admin_edit_stores_lf_and_counts_agree(alice, agent):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = Client()
    client.force_login(alice)
    block = agent.blocks.get(label="human")
    url = reverse("admin:memory_block_change", args=[block.id])
    form = {
        "label": block.label,
        "value": CRLF,
        "limit": len(LF),  # the CRLF text is longer than the limit; what is stored is not
        "description": "first\r\nsecond",
        "metadata": "{}",
        "tags": "[]",
        "expected_version": block.version,
        "history-TOTAL_FORMS": "0",
        "history-INITIAL_FORMS": "0",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    block.refresh_from_db()
    assert block.value == LF and block.description == "first\nsecond"
    latest = block.history.order_by("-version").first()
    assert latest.new["value"] == LF and "\r" not in compile_system_prompt(agent)


def test_api_page_and_create_store_lf(alice, alice_key, agent):
    block = agent.blocks.get(label="human")
    api = ApiClient(alice_key)
    response = api.patch(f"/v1/blocks/{block.id}", {"value": CRLF})
    assert response.status_code == 200 and response.json()["value"] == LF
    client = Client()
    client.force_login(alice)
    block.refresh_from_db()
    data = {"version": block.version, "base_version": block.version, "value": "a\r\nb", "read_only_present": "1"}
    response = client.post(reverse("agents:block_save", args=[agent.id, block.id]), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "3 / " in response.content.decode()
    block.refresh_from_db()
    assert block.value == "a\nb"
    made = create_block(alice.organization, label="notes", value="x\r\ny", actor=Actor.user(alice, "user"))
    assert Block.objects.get(id=made.id).value == "x\ny"
    # an unchanged text sent back with CRLF is no change at all: no new version, no history row
    version = block.version
    same = update_block(alice.organization, block.id, {"value": "a\r\nb"}, actor=Actor.user(alice, "user"))
    assert same.version == version


def test_small_things_just_now_and_admin_history(alice, agent):
    """#15 small things: a fresh change reads "just now" (never "0 minutes ago"); the admin's block history shows
    long values and names its rows by block and version."""
    from django.utils import timezone

    from agents.templatetags.ade import ago

    block = agent.blocks.get(label="human")
    long_value = "Name: Ada. " + "She likes long walks by the sea. " * 5
    update_block(alice.organization, block.id, {"value": long_value}, actor=Actor.user(alice))
    assert ago(timezone.now()) == "just now"
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("admin:memory_block_change", args=[block.id])).content.decode()
    assert long_value[:150] in html and "BlockHistory object" not in html and "historys" not in html.lower()
    page = client.get(reverse("agents:block_history", args=[agent.id, block.id])).content.decode()
    assert "just now" in page and "0 minutes" not in page
