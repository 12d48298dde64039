"""Conversation retrieval: `conversation_search` on a long generated conversation (our own suite; no LLM).

The seeded conversation of `bench recall` (agents/benchmarks/recall.py): dated sessions of events among chatter,
stored as one agent's messages per embedding model (the eval's "models" are embedding handles). Each event is asked
about in its own words and paraphrased; each question is searched in each mode (vector, fts, hybrid) and the rank of
the event's message stored. The summary gives recall@5, recall@10 and MRR per mode, like archival-retrieval."""

import random

from agents.benchmarks import conversation, recall
from agents.benchmarks import retrieval as bench
from evals.suites.base import Outcome, Suite

SESSIONS, CHATTER, SEED = 40, 10, 7


def _conversation():
    turns, asked = conversation.conversation(SESSIONS, CHATTER, random.Random(SEED))
    return turns, recall.paired_questions(turns, asked)


class ConversationRetrieval(Suite):
    name = "conversation-retrieval"
    title = "Conversation retrieval"
    description = (
        f"A generated conversation of {SESSIONS} dated sessions as one agent's messages; each event asked about in "
        "its own words and paraphrased, searched by conversation_search with vector, full-text and hybrid ranking; "
        "recall@5/@10 and MRR of the event's message. No LLM: the models are embedding handles (default local MiniLM)."
    )
    grader = "rank"
    needs_model = False

    def rows(self, run) -> list[dict]:
        _turns, questions = _conversation()
        return [{"input": q, "ground_truth": answer, "kind": kind} for kind, q, answer in questions]

    def prepare(self, run, user) -> None:
        from evals.models import EvalRun
        from evals.sample import EVAL_TAG, agent_name

        turns, _questions = _conversation()
        agents = {}
        for handle in run.model_handles:
            spec = {
                "name": agent_name(f"eval {self.name} {handle}"),
                "embedding": handle,
                "hidden": True,
                "tags": [EVAL_TAG, run.id],
                "metadata": {"eval": {"id": run.id, "model": handle}},
            }
            agents[handle] = recall.agent_with(user, spec, turns).id
        run.options = {**run.options, "agents": agents}
        EvalRun.objects.filter(id=run.id).update(options=run.options)

    def play(self, sample) -> Outcome:
        from agents.models import Agent

        sample.agent = Agent.objects.get(id=sample.run.options["agents"][sample.model])
        type(sample.result).objects.filter(id=sample.result.id).update(agent=sample.agent)
        question, answer = sample.row["input"], sample.row["ground_truth"]
        ranks = {mode: recall.rank_of(sample.agent, question, answer, mode) for mode in bench.MODES}
        hybrid = ranks["hybrid"]
        said = f"hybrid rank {hybrid}" if hybrid else "not in the hybrid top 10"
        return Outcome(question, answer, said, 1.0 if hybrid else 0.0, {"ranks": ranks, "kind": sample.row["kind"]})
