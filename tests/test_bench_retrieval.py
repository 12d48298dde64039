"""`manage.py bench retrieval` / `bench conversation` (suite 3 and the long-conversation suite, small): a table of
recall and MRR per search mode, and nothing left in the database."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command

from memory.models import Passage

pytestmark = pytest.mark.django_db


def table(out: str) -> dict[str, list[float]]:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("vector", "fts", "hybrid"):
            rows[parts[0]] = [float(x) for x in parts[1:]]
    return rows


def bench(*args) -> dict[str, list[float]]:
    out = io.StringIO()
    call_command("bench", *args, stdout=out)
    return table(out.getvalue())


def test_retrieval_on_a_slice_of_the_shipped_data(tmp_path):
    rows = (settings.BASE_DIR / "evals" / "data" / "core_memory_update.jsonl").read_text().splitlines()[:6]
    facts = tmp_path / "facts.jsonl"
    facts.write_text("\n".join(rows))
    before = Passage.objects.count()
    figures = bench("retrieval", "--facts", str(facts))
    assert set(figures) == {"vector", "fts", "hybrid"}
    for recall5, recall10, mrr in figures.values():
        assert 0 <= mrr <= recall5 <= recall10 <= 1
    # Each question names the people of its supporting fact: words find it.
    assert figures["fts"][1] == 1.0 and figures["hybrid"][1] >= figures["vector"][1]
    assert Passage.objects.count() == before


def test_conversation_suite_small():
    figures = bench("conversation", "--sessions", "4", "--chatter", "3")
    assert set(figures) == {"vector", "fts", "hybrid"}
    assert figures["hybrid"][2] > 0


@pytest.mark.django_db(transaction=True)  # on PostgreSQL the load is a COPY on a connection of its own
def test_archival_bench_small_loads_searches_and_cleans_up():
    out = io.StringIO()
    before = Passage.objects.count()
    call_command("bench", "archival", "--passages", "300", "--other", "40", "--queries", "12", stdout=out)
    text = out.getvalue()
    assert "340 passages" in text and text.count("recall@10") == 2, text
    recalls = [float(line.split()[1]) for line in text.splitlines() if line.strip().startswith("recall@10")]
    assert recalls == [1.0, 1.0], text  # 300 rows: below the exact-scan threshold, so an exact scan
    assert Passage.objects.count() == before
