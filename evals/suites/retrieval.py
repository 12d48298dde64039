"""Suite 3: archival retrieval. Every distinct fact of the data goes into one agent's archival memory (per embedding
model: the eval's "models" are embedding handles here); each question is searched in each mode (vector, fts,
hybrid) through `memory.archival.search_archival`, and the rank of its supporting fact is stored. The summary gives
recall@5, recall@10 and MRR per mode. The logic is `agents/benchmarks/retrieval.py`'s (`bench retrieval`)."""

from pathlib import Path

from agents.benchmarks import retrieval as bench
from evals.suites.base import DATA, Outcome, Suite

DEFAULT_EMBEDDING = "local/all-minilm-l6-v2"


class ArchivalRetrieval(Suite):
    name = "archival-retrieval"
    title = "Archival retrieval"
    description = (
        "Every distinct fact as an archival passage of one agent; each update-suite question searched with "
        "vector, full-text and hybrid search; recall@5/@10 and MRR of its supporting fact. No LLM: the models "
        "are embedding handles (default local MiniLM)."
    )
    grader = "rank"
    needs_model = False
    default_file = DATA / "core_memory_update.jsonl"

    def rows(self, run) -> list[dict]:
        _facts, questions = self._data(run)
        return [{"input": q, "ground_truth": fact} for q, fact in questions]

    def _data(self, run):
        from evals.suites.base import read_jsonl

        path = run.options.get("file") or self.default_file
        read_jsonl(path, field="file")  # a readable file of rows, or a 400 naming the field
        return bench.load(Path(path).read_text())

    def prepare(self, run, user) -> None:
        from agents.actions import create_agent
        from evals.models import EvalRun
        from evals.sample import EVAL_TAG, agent_name

        facts, _questions = self._data(run)
        agents = {}
        for handle in run.model_handles:
            agent = create_agent(
                user,
                {
                    **{k: v for k, v in (run.target or {}).items() if k in ("agent_type", "system")},
                    "name": agent_name(f"eval {self.name} {handle}"),
                    "embedding": handle,
                    "hidden": True,
                    "tags": [EVAL_TAG, run.id],
                    "metadata": {"eval": {"id": run.id, "model": handle}},
                },
            )
            bench.store_facts(user, agent, facts)
            agents[handle] = agent.id
        run.options = {**run.options, "agents": agents}
        EvalRun.objects.filter(id=run.id).update(options=run.options)

    def play(self, sample) -> Outcome:
        from agents.models import Agent

        sample.agent = Agent.objects.get(id=sample.run.options["agents"][sample.model])
        type(sample.result).objects.filter(id=sample.result.id).update(agent=sample.agent)
        question, fact = sample.row["input"], sample.row["ground_truth"]
        ranks = {mode: bench.rank_of(sample.agent, question, fact, mode) for mode in bench.MODES}
        hybrid = ranks["hybrid"]
        answer = f"hybrid rank {hybrid}" if hybrid else "not in the hybrid top 10"
        return Outcome(question, fact, answer, 1.0 if hybrid else 0.0, {"ranks": ranks})


def summary(results) -> dict:
    """Per mode: recall@5, recall@10, MRR over the graded results."""
    ranks = [r.grade.get("ranks") or {} for r in results]
    return {mode: bench.metrics([r.get(mode) for r in ranks]) for mode in bench.MODES} if ranks else {}
