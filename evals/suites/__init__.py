"""The suite registry: built-in suites by name, and the organization's own (`UserSuite`: JSONL rows + a grader)."""

from ade.errors import Invalid, NotFound
from evals.suites.base import Outcome, Suite, facts_of
from evals.suites.compaction import CompactionIntegrity
from evals.suites.conversation import ConversationRetrieval
from evals.suites.memory import CoreMemoryRead, CoreMemoryUpdate, facts_block
from evals.suites.retrieval import ArchivalRetrieval

BUILTIN = {
    s.name: s
    for s in (CoreMemoryRead(), CoreMemoryUpdate(), ArchivalRetrieval(), CompactionIntegrity(), ConversationRetrieval())
}


class UserJsonlSuite(Suite):
    """A user's suite: each row's facts (if any) in the facts block, its `input` asked, graded by its grader."""

    def __init__(self, row):
        self.row_model = row
        self.name, self.title, self.description, self.grader = row.name, row.name, row.description, row.grader

    def rows(self, run) -> list[dict]:
        return list(self.row_model.rows)

    def play(self, sample) -> Outcome:
        from evals.grading import grade

        row = sample.row
        facts = facts_of(row)
        sample.create_agent({"memory_blocks": [facts_block(facts)] if facts else []})
        answer = sample.say(row["input"])
        expected = str(row.get("ground_truth", ""))
        score, details = grade(self.grader, row["input"], expected, answer)
        return Outcome(row["input"], expected, answer, score, details)

    def describe(self) -> dict:
        return {**super().describe(), "builtin": False, "id": self.row_model.id, "samples": len(self.row_model.rows)}

    def available(self, run) -> int:
        return len(self.row_model.rows)


def get_suite(org_id: str, name: str) -> Suite:
    """The suite called `name` for this organization: a built-in one, else the organization's own."""
    from evals.models import UserSuite

    if not isinstance(name, str) or not name:
        raise Invalid("suite is required", field="suite")
    if name in BUILTIN:
        return BUILTIN[name]
    row = UserSuite.objects.filter(organization_id=org_id, name=name).first()
    if row is None:
        raise NotFound(f"suite {name!r} does not exist; suites: {', '.join(BUILTIN)} or one you added", field="suite")
    return UserJsonlSuite(row)


def all_suites(org_id: str) -> list[Suite]:
    from evals.models import UserSuite

    return [*BUILTIN.values(), *(UserJsonlSuite(r) for r in UserSuite.objects.filter(organization_id=org_id))]
