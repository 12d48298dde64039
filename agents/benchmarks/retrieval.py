"""Archival retrieval quality (the memory-eval issue's suite 3): vector, full-text and hybrid search compared.

Every distinct fact of the core-memory update suite (evals/data, Letta's published data, Apache-2.0) is stored as an
archival passage of one agent, with the offline MiniLM embedder. Each question of the suite is then searched with
`memory.archival.search_archival` in each mode, and the rank of its supporting fact (`supporting_fact_indices`)
gives recall@5, recall@10 and MRR. Nothing is kept: the work happens in a transaction that is rolled back.

    python manage.py bench retrieval [--facts FILE.jsonl] [--questions N]
"""

import argparse
import json
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

DATA = Path(settings.BASE_DIR) / "evals" / "data" / "core_memory_update.jsonl"
MODES = ("vector", "fts", "hybrid")
DEPTH = 10


class Rollback(Exception):
    pass


def run(argv, out) -> None:
    parser = argparse.ArgumentParser(prog="manage.py bench retrieval")
    parser.add_argument("--facts", default=str(DATA), help="a JSONL file in the core-memory update format")
    parser.add_argument("--questions", type=int, default=0, help="ask only the first N questions (default: all)")
    args = parser.parse_args(argv)
    facts, questions = load(Path(args.facts).read_text())
    questions = questions[: args.questions or None]
    out.write(f"Archival retrieval: {len(facts)} distinct facts as passages, {len(questions)} questions, MiniLM")
    try:
        with transaction.atomic():
            agent = _agent_with(facts, out)
            results = {mode: _ranks(agent, questions, mode) for mode in MODES}
            raise Rollback
    except Rollback:
        pass
    _report(results, out)


def load(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(every distinct fact, [(question, its supporting fact)]) from JSONL rows in the core-memory update format.
    The eval suite `archival-retrieval` (evals/suites/retrieval.py) reads its data through this too."""
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    facts = list(dict.fromkeys(f for row in rows for f in row["agent_args"]["extra"]["facts"]))
    return facts, [_question(row) for row in rows]


def _question(row) -> tuple[str, str]:
    extra = row["agent_args"]["extra"]
    return row["input"], extra["facts"][extra["supporting_fact_indices"][0]]


def _agent_with(facts: list[str], out):
    from accounts.actions import create_user
    from agents.actions import create_agent

    user = create_user(f"bench-retrieval-{time.monotonic_ns()}", "unused password 1234", org_name="bench")
    agent = create_agent(user, {"name": "retrieval", "model": "engram/scripted", "embedding": "local/all-minilm-l6-v2"})
    started = time.perf_counter()
    store_facts(user, agent, facts)
    out.write(f"  embedded {len(facts)} facts in {time.perf_counter() - started:.1f} s")
    return agent


def store_facts(user, agent, facts: list[str]) -> None:
    """Every fact as an archival passage of `agent` (embedded first, then written in one transaction)."""
    from memory.actions import create_passages
    from memory.archival import default_archive
    from memory.embeddings import embed, model_name

    vectors = embed(facts, agent.embedding_config)
    with transaction.atomic():
        create_passages(
            agent.organization,
            facts,
            vectors,
            embedding_model=model_name(agent.embedding_config),
            archive=default_archive(agent),
            created_by=user,
        )


def rank_of(agent, question: str, fact: str, mode: str) -> int | None:
    """Where `fact` comes in the top DEPTH of an archival search for `question` (1-based), or None."""
    from memory.archival import search_archival

    found = [r["content"] for r in search_archival(agent, question, top_k=DEPTH, search_mode=mode)]
    return found.index(fact) + 1 if fact in found else None


def _ranks(agent, questions, mode: str) -> list[int | None]:
    return [rank_of(agent, question, fact, mode) for question, fact in questions]


def metrics(ranks: list) -> dict:
    """recall@5, recall@10 and MRR@10 of a list of ranks (None = not in the top 10)."""
    found = [r for r in ranks if r is not None]
    total = max(len(ranks), 1)
    return {
        "recall@5": sum(1 for r in found if r <= 5) / total,
        "recall@10": sum(1 for r in found if r <= 10) / total,
        "mrr": sum(1 / r for r in found) / total,
    }


def _report(results: dict, out) -> None:
    out.write("")
    out.write(f"{'mode':<10}{'recall@5':>10}{'recall@10':>11}{'MRR@10':>9}")
    for mode, ranks in results.items():
        m = metrics(ranks)
        out.write(f"{mode:<10}{m['recall@5']:>10.3f}{m['recall@10']:>11.3f}{m['mrr']:>9.3f}")
