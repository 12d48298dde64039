"""The data model's promises: ids, optimistic concurrency, history, vector search, sharing, config errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from ade.errors import Conflict, Unprocessable
from ade.ids import is_valid_id
from memory.actions import Actor, create_block, create_passages, undo_block, update_block
from memory.models import Archive, Block, BlockHistory, Passage
from memory.queries import search_passages


def make_agent(org, name="a"):
    from agents.models import Agent

    return Agent.objects.create(organization=org, name=name, llm_config={"model": "scripted", "context_window": 8000})


def test_ids_have_prefixes(org, alice):
    agent = make_agent(org)
    block = create_block(org, label="human", value="", actor=Actor.user(alice))
    archive = Archive.objects.create(organization=org, name="x")
    for prefix, obj in [("agent", agent), ("block", block), ("archive", archive), ("org", org), ("user", alice)]:
        assert is_valid_id(prefix, obj.id), obj.id


def test_stale_block_write_is_refused_and_leaves_row_untouched(org, alice, bob):
    block = create_block(org, label="human", value="Name: Chad", actor=Actor.user(alice))
    seen_version = block.version
    update_block(org, block.id, {"value": "Name: Ada"}, actor=Actor.user(alice), expected_version=seen_version)
    with pytest.raises(Conflict):
        update_block(org, block.id, {"value": "Name: Bob"}, actor=Actor.user(bob), expected_version=seen_version)
    block.refresh_from_db()
    assert block.value == "Name: Ada"
    assert block.version == seen_version + 1


def test_every_block_change_writes_history_and_undo_restores(org, alice):
    block = create_block(org, label="persona", value="v1", actor=Actor.user(alice))
    update_block(org, block.id, {"value": "v2"}, actor=Actor.user(alice))
    update_block(
        org, block.id, {"value": "v3", "description": "d"}, actor=Actor("agent", "agent-x", "a", "memory_replace")
    )
    rows = list(BlockHistory.objects.filter(block=block).order_by("version"))
    assert [r.version for r in rows] == [1, 2, 3]
    assert rows[1].previous == {"value": "v1"} and rows[1].new == {"value": "v2"}
    assert rows[2].actor_type == "agent" and rows[2].tool_name == "memory_replace"
    restored = undo_block(org, block.id, 1, actor=Actor.user(alice))
    assert restored.value == "v1" and restored.version == 4
    assert BlockHistory.objects.filter(block=block).count() == 4


def test_value_past_limit_is_refused(org, alice):
    block = create_block(org, label="human", value="abc", limit=5, actor=Actor.user(alice))
    with pytest.raises(Unprocessable, match="Exceeds 5 character limit"):
        update_block(org, block.id, {"value": "abcdefg"}, actor=Actor.user(alice))
    block.refresh_from_db()
    assert block.value == "abc" and block.history.count() == 1


def test_vector_search_returns_true_nearest(org):
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(20, 384)).astype(np.float32)
    vecs = (centres[rng.integers(0, 20, 400)] + 0.3 * rng.normal(size=(400, 384))).astype(np.float32)
    archive = Archive.objects.create(organization=org, name="a")
    other = Archive.objects.create(organization=org, name="b")
    passages = create_passages(org, [f"p{i}" for i in range(400)], vecs, embedding_model="m", archive=archive)
    create_passages(org, ["noise"], vecs[:1], embedding_model="m", archive=other)
    query = vecs[5] + 0.1 * rng.normal(size=384).astype(np.float32)

    found = search_passages(Passage.objects.filter(archive=archive), query, top_k=10, embedding_model="m")

    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    exact = np.argsort(1 - unit @ (query / np.linalg.norm(query)))[:10]
    assert [p.id for p, _ in found] == [passages[i].id for i in exact]
    assert all(p.archive_id == archive.id for p, _ in found)


@pytest.mark.parametrize("planner_says", ["few", "many"])
def test_vector_search_is_exact_whichever_way_the_planner_guesses(org, monkeypatch, planner_says):
    """PostgreSQL decides between the HNSW index and an exact scan from the planner's estimate; a wrong guess of a
    large set (the index then finds fewer than k rows through the filter) falls back to the exact scan."""
    from django.db import connection

    from memory import vectors

    if connection.vendor != "postgresql":
        pytest.skip("the estimate and the index are PostgreSQL's")
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(300, 384)).astype(np.float32)
    archive = Archive.objects.create(organization=org, name="a")
    create_passages(org, [f"p{i}" for i in range(297)], vecs[:297], embedding_model="m", archive=archive)
    rare = create_passages(org, ["r0", "r1", "r2"], vecs[297:], embedding_model="m", archive=archive, tags=["rare"])
    monkeypatch.setattr(vectors, "_few_candidates", lambda qs: planner_says == "few")
    query = vecs[298] + 0.05 * rng.normal(size=384).astype(np.float32)

    found = search_passages(Passage.objects.filter(archive=archive), query, top_k=5, embedding_model="m", tags=["rare"])

    unit = vecs[297:] / np.linalg.norm(vecs[297:], axis=1, keepdims=True)
    order = np.argsort(1 - unit @ (query / np.linalg.norm(query)))
    assert [p.id for p, _ in found] == [rare[i].id for i in order]


@pytest.mark.parametrize(("threshold", "few", "counted"), [(5000, True, False), (20, False, True), (5, False, False)])
def test_few_candidates_trusts_a_clear_estimate_and_counts_near_the_threshold(
    org, monkeypatch, threshold, few, counted
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from memory import vectors

    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's")
    archive = Archive.objects.create(organization=org, name="a")
    vecs = np.eye(40, 384, dtype=np.float32)
    create_passages(org, [f"p{i}" for i in range(40)], vecs, embedding_model="m", archive=archive)
    with connection.cursor() as cur:
        cur.execute("ANALYZE memory_passage")  # the estimate is then ~40 rows
    monkeypatch.setattr(vectors, "EXACT_SEARCH_MAX_ROWS", threshold)
    with CaptureQueriesContext(connection) as ctx:
        assert vectors._few_candidates(Passage.objects.filter(archive=archive)) is few
    assert any("COUNT(" in q["sql"] for q in ctx.captured_queries) is counted


def test_tag_filters_apply_before_limit(org):
    archive = Archive.objects.create(organization=org, name="a")
    vecs = np.eye(8, dtype=np.float32)
    create_passages(org, [f"plain{i}" for i in range(6)], vecs[:6], embedding_model="m", archive=archive)
    tagged = create_passages(org, ["far"], vecs[7:8], embedding_model="m", archive=archive, tags=["meetings", "x"])
    qs = Passage.objects.filter(archive=archive)
    any_hits = search_passages(qs, vecs[0], top_k=1, embedding_model="m", tags=["meetings", "nope"])
    all_hits = search_passages(
        qs, vecs[0], top_k=1, embedding_model="m", tags=["meetings", "nope"], tag_match_mode="all"
    )
    assert [p.id for p, _ in any_hits] == [tagged[0].id]
    assert all_hits == []


def test_deleting_agent_keeps_block_shared_with_another(org, alice):
    from agents.models import AgentBlock

    a, b = make_agent(org, "a"), make_agent(org, "b")
    shared = create_block(org, label="team", value="shared", actor=Actor.user(alice))
    AgentBlock.objects.create(agent=a, block=shared)
    AgentBlock.objects.create(agent=b, block=shared)
    a.delete()
    assert Block.objects.filter(id=shared.id).exists()
    assert list(b.blocks.all()) == [shared]


def test_malformed_database_url_stops_with_one_line():
    env = {**os.environ, "DATABASE_URL": "mysql://nope"}
    proc = subprocess.run([sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "DATABASE_URL" in proc.stderr and "Traceback" not in proc.stderr


def test_admin_login_works(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    assert client.login(username="alice", password="correct horse battery")
    for path in ("/admin/", "/admin/memory/block/"):
        page = client.get(path)
        assert page.status_code == 200
        assert '<link rel="icon"' in page.content.decode()  # else the browser asks for /favicon.ico: a 404


def test_admin_block_edit_goes_through_history_and_refuses_stale(client, org, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    block = create_block(org, label="human", value="Name: Chad", limit=50, actor=Actor.user(alice))
    url = f"/admin/memory/block/{block.id}/change/"
    form = {
        "label": "human",
        "value": "Name: Ada",
        "limit": 50,
        "description": "",
        "metadata": "{}",
        "tags": "[]",
        "expected_version": block.version,
        "history-TOTAL_FORMS": 0,
        "history-INITIAL_FORMS": 0,
    }
    assert client.post(url, form).status_code == 302
    block.refresh_from_db()
    assert block.value == "Name: Ada" and block.version == 2
    assert block.history.get(version=2).actor_type == "admin"

    stale = {**form, "value": "Name: Bob", "expected_version": 1}
    response = client.post(url, stale)
    assert response.status_code == 200 and b"Someone else changed this block" in response.content
    over = {**form, "value": "x" * 51, "expected_version": 2}
    assert b"over the limit" in client.post(url, over).content
    block.refresh_from_db()
    assert block.value == "Name: Ada" and block.version == 2


def test_bootstrap_creates_admin_and_key_once(db):
    from io import StringIO

    from django.core.management import call_command

    from accounts.actions import user_for_key
    from accounts.models import User

    out = StringIO()
    call_command("bootstrap", stdout=out)
    text = out.getvalue()
    key = next(line.split()[-1] for line in text.splitlines() if "API key:" in line)
    user = User.objects.get(username="admin")
    assert user.is_staff and user.organization is not None
    assert user_for_key(key) == user
    assert user.api_keys.get().hashed_key != key  # stored hashed, never raw

    again = StringIO()
    call_command("bootstrap", stdout=again)
    assert "API key" not in again.getvalue() and User.objects.count() == 1
