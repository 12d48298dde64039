"""Suites 1 and 2: core-memory read and update (evals/data, Letta's published rows, Apache-2.0).

The facts go into a `supporting_facts` block, numbered one per line, beside a short persona (unless the target
brings one) and the target's own blocks.
Read: ask the question; the reply must contain the answer. Update: say the contradicting fact, start a fresh
context (in-context messages reset, memory kept), then ask: the new answer must come from memory alone. Graded by
`contains`, and by the judge model instead when EVAL_JUDGE_MODEL is set.
"""

from evals.grading import contains, grade
from evals.suites.base import DATA, Outcome, Suite, facts_of

FACTS_LABEL = "supporting_facts"
UPDATE_MESSAGE = "Here is new information that replaces what you knew before: {fact}"


def facts_block(facts: list[str]) -> dict:
    value = "\n".join(f"{i}. {fact}" for i, fact in enumerate(facts))
    return {
        "label": FACTS_LABEL,
        "description": "Supporting facts: what you know about the people you are asked about. Keep it current.",
        "value": value,
        "limit": max(5000, len(value) * 2),
    }


PERSONA = "I am a careful assistant. I answer questions from what my memory holds and keep it up to date."


def blocks_for(sample, facts: list[str]) -> list[dict]:
    """The facts block, and a persona unless the eval's target brings its own."""
    labels = {b.get("label") for b in (sample.run.target or {}).get("memory_blocks") or [] if isinstance(b, dict)}
    persona = [] if "persona" in labels else [{"label": "persona", "value": PERSONA}]
    return persona + [facts_block(facts)]


class CoreMemoryRead(Suite):
    name = "core-memory-read"
    title = "Core memory: read"
    description = "Facts in a core memory block; ask a question about them; the reply must contain the answer."
    grader = "contains"
    default_file = DATA / "core_memory_read.jsonl"

    def play(self, sample) -> Outcome:
        row = sample.row
        sample.create_agent({"memory_blocks": blocks_for(sample, facts_of(row))})
        answer = sample.say(row["input"])
        score, details = grade(self.grader, row["input"], row.get("ground_truth", ""), answer)
        return Outcome(row["input"], row.get("ground_truth", ""), answer, score, details)


class CoreMemoryUpdate(Suite):
    name = "core-memory-update"
    title = "Core memory: update"
    description = (
        "Facts in a core memory block; a message contradicts one; the context is reset (memory kept); then the "
        "question. Graded by contains, or by the judge model when EVAL_JUDGE_MODEL is set."
    )
    grader = "contains+judge"
    default_file = DATA / "core_memory_update.jsonl"

    def play(self, sample) -> Outcome:
        row = sample.row
        extra = (row.get("agent_args") or {}).get("extra") or {}
        sample.create_agent({"memory_blocks": blocks_for(sample, facts_of(row))})
        new_fact = str(extra.get("contradicting_fact") or "").strip().strip('"')
        sample.say(UPDATE_MESSAGE.format(fact=new_fact))
        sample.reset()
        answer = sample.say(row["input"])
        expected = str(extra.get("contradicting_answer") or row.get("ground_truth", ""))
        score, details = grade(self.grader, row["input"], expected, answer)
        if "judge" not in details and not score and contains(answer, new_fact):
            score, details["states_new_fact"] = 1.0, True  # the reply gives the new fact itself (its words differ)
        details["memory_updated"] = new_fact in sample.block(FACTS_LABEL)
        return Outcome(row["input"], expected, answer, score, details)
