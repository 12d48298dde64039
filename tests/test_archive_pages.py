"""The archival panel attaches and detaches shared archives: offered only when they embed with the agent's model and
belong to its organization; once attached, their passages are searched like the agent's own."""

import pytest
from django.urls import reverse

from agents.actions import create_agent
from memory.archives import create_archive, insert_passages

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_attach_and_detach_a_shared_archive(alice, mallory, client):
    agent = create_agent(alice, {"name": "reader", "model": "engram/scripted", "embedding": "local/all-minilm-l6-v2"})
    shared = create_archive(alice, name="Team handbook", embedding="local/all-minilm-l6-v2")
    insert_passages(alice, shared, [{"text": "Holidays are booked through the HR portal."}])
    theirs = create_archive(mallory, name="Evil plans", embedding="local/all-minilm-l6-v2")
    client.force_login(alice)

    panel = client.get(reverse("agents:archival", args=[agent.id]), {"q": "x"}, **HTMX).content.decode()
    assert f'<option value="{shared.id}">Team handbook</option>' in panel and "Evil plans" not in panel

    attached = client.post(reverse("agents:archive_attach", args=[agent.id]), {"archive_id": shared.id}, **HTMX)
    assert attached.status_code == 200 and f'id="archive-{shared.id}"' in attached.content.decode()
    found = client.get(reverse("agents:archival", args=[agent.id]), {"q": "how do I book holidays"}, **HTMX)
    assert "HR portal" in found.content.decode()

    refused = client.post(reverse("agents:archive_attach", args=[agent.id]), {"archive_id": theirs.id}, **HTMX)
    assert refused.status_code == 404 and not agent.archives.filter(id=theirs.id).exists()

    detached = client.post(reverse("agents:archive_detach", args=[agent.id, shared.id]), **HTMX)
    assert detached.status_code == 200 and f'id="archive-{shared.id}"' not in detached.content.decode()
    assert not agent.archives.filter(id=shared.id).exists()
