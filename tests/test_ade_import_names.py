"""Import keeps names where they are free (#15 confusing 10): with "Keep the file's names" the agents keep their
names (a sleep-time companion included); a name already taken gets `_copy`."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents.models import Agent

SAMPLE = "/work/shared/af-samples/evie.af"


def test_import_keeps_free_names_and_suffixes_taken_ones(alice):
    raw = open(SAMPLE, "rb").read()
    names = [a["name"] for a in json.loads(raw)["agents"]]
    client = Client()
    client.force_login(alice)

    def post(keep: bool):
        data = {"file": SimpleUploadedFile("evie.af", raw), **({"keep_names": "on"} if keep else {})}
        assert client.post(reverse("agents:import"), data, HTTP_HX_REQUEST="true").status_code == 200
        return set(Agent.objects.filter(organization=alice.organization).values_list("name", flat=True))

    assert set(names) <= post(keep=True)
    assert {f"{n}_copy" for n in names} <= post(keep=True)  # taken now: suffixed
    assert Agent.objects.filter(organization=alice.organization).count() == 2 * len(names)
