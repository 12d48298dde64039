"""A large agent-file import (issue 10, medium): on SQLite one import of 280k messages in one transaction made other
organizations' writes fail with "database is locked". Messages are now written in short transactions, with
progress reported to the import's group."""

import json
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

from agents.actions import create_agent
from agents.agentfile.importer import import_agent_file, import_group
from agents.models import Agent, Message
from memory.actions import Actor, create_block
from tests.events import GroupListener

MESSAGES = 20_000


def big_agent_file(api, alice) -> bytes:
    agent = create_agent(alice, {"name": "chatty"})
    doc = api.get(f"/v1/agents/{agent.id}/export").json()
    entry = doc["agents"][0]
    entry["messages"] += [
        {"id": f"message-{i + 100}", "role": "user", "content": [{"type": "text", "text": f"note {i} " * 20}]}
        for i in range(MESSAGES)
    ]
    return json.dumps(doc).encode()


@pytest.mark.django_db(transaction=True)
def test_other_organizations_can_write_during_a_large_import(alice, alice_api, mallory, monkeypatch):
    # One transaction of all 20,000 rows holds SQLite's write lock for seconds; one of 100 rows for ~15 ms.
    monkeypatch.setattr("agents.agentfile.importer.IMPORT_BATCH", 100)
    raw = big_agent_file(alice_api, alice)
    listener = GroupListener(import_group("imp-1"))
    result = {}

    def run_import():
        try:
            result["ids"] = import_agent_file(alice, raw, import_id="imp-1")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run_import)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # wait at most 1.5 s for the write lock (20 s by default)
            cursor.execute("PRAGMA busy_timeout = 1500")
    thread.start()
    # The agents, tools and blocks are one transaction whatever the file's size; the messages follow the first
    # progress event. Write while they are written.
    listener.collect(lambda evs: len(evs) >= 1, timeout=120)
    writes = 0
    try:
        while thread.is_alive() or writes == 0:
            create_block(mallory.organization, label=f"b{writes}", value="v", actor=Actor.user(mallory))
            writes += 1
    finally:
        thread.join()
    assert result["ids"], result
    [copy] = result["ids"]
    assert Message.objects.filter(agent_id=copy).count() >= MESSAGES
    assert len(Agent.objects.get(id=copy).message_ids) >= 1


def test_the_api_import_still_answers_with_the_agent_ids(alice_api, alice, monkeypatch):
    monkeypatch.setattr("agents.agentfile.importer.IMPORT_BATCH", 300)
    raw = big_agent_file(alice_api, alice)
    r = alice_api.upload("/v1/agents/import", {"file": SimpleUploadedFile("big.af", raw, "application/json")})
    assert r.status_code == 200, r.content
    [copy] = r.json()["agent_ids"]
    assert Message.objects.filter(agent_id=copy).count() >= MESSAGES


def test_progress_goes_to_the_import_group(alice_api, alice, monkeypatch):
    monkeypatch.setattr("agents.agentfile.importer.IMPORT_BATCH", 300)
    raw = big_agent_file(alice_api, alice)
    listener = GroupListener(import_group("imp-2"))
    import_agent_file(alice, raw, import_id="imp-2")
    events = listener.collect(lambda evs: any(e.get("finished") for e in evs))
    done = [e["done"] for e in events]
    assert done == sorted(done) and events[-1]["done"] == events[-1]["total"] >= MESSAGES and len(events) > 10
