"""What a suite is: rows of data plus a small class that sets up an agent per sample, plays the script and grades.

A suite class declares `name`, `title`, `description`, `grader` and implements `rows(run)` (every sample it could
play) and `play(sample)` (one sample, through `evals.sample.Sample`: create the agent, say things, reset, read its
memory). `prepare(run, user)` runs once per eval before any sample (suite 3 builds its one agent there).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from ade.errors import Invalid

DATA = Path(settings.BASE_DIR) / "evals" / "data"


@dataclass
class Outcome:
    """What one sample produced: the grader's score (0..1) and what it looked at."""

    question: str
    expected: str
    answer: str
    score: float
    grade: dict = field(default_factory=dict)


class Suite:
    name = ""
    title = ""
    description = ""
    grader = "contains"
    needs_model = True  # False: the suite measures search alone (models are ignored, one "model" row per sample)
    default_file: Path | None = None

    default_samples: int | None = None  # None: every row

    def rows(self, run) -> list[dict]:
        return read_jsonl(run.options.get("file") or self.default_file, field="file")

    def available(self, run) -> int | None:
        """How many samples the suite has for `run` (None: generated, as many as asked)."""
        return len(self.rows(run))

    def prepare(self, run, user) -> None:
        """Once per eval, before its samples (after commit, off the request)."""

    def play(self, sample) -> Outcome:
        raise NotImplementedError

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "grader": self.grader,
            "needs_model": self.needs_model,
            "builtin": True,
        }


def read_jsonl(path, *, field: str) -> list[dict]:
    """Rows of a JSONL file; a missing file or a bad line is a 400 naming `field`."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise Invalid(f"{field}: cannot read {path}: {exc.strerror}", field=field) from exc
    return parse_jsonl(text, field=field)


def parse_jsonl(text: str, *, field: str) -> list[dict]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise Invalid(f"{field}: line {number} is not JSON ({exc})", field=field) from exc
        if not isinstance(row, dict) or not isinstance(row.get("input"), str) or not row["input"].strip():
            raise Invalid(f"{field}: line {number} needs a string 'input'", field=field)
        if not isinstance(row.get("ground_truth", ""), str):
            raise Invalid(f"{field}: line {number}: 'ground_truth' must be a string", field=field)
        rows.append(row)
    if not rows:
        raise Invalid(f"{field}: no rows", field=field)
    return rows


def facts_of(row: dict) -> list[str]:
    facts = ((row.get("agent_args") or {}).get("extra") or {}).get("facts") or []
    return [str(f) for f in facts]
