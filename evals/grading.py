"""Graders: `contains` (the expected answer, or each of its words, appears in the reply; case and punctuation ignored), `exact`, and `judge`
(an LLM, the model of EVAL_JUDGE_MODEL, says whether the reply gives the expected answer; our own prompt)."""

import re

from django.conf import settings

JUDGE_PROMPT = (
    "You check answers for a memory test. You get a question, the reference answer and the answer an assistant "
    "gave. Decide whether the assistant's answer states the reference answer (wording may differ; extra detail is "
    "fine; an answer that hedges between several options, or states an older, replaced fact instead, is wrong). "
    "Reply with one word: CORRECT, INCORRECT, or UNATTEMPTED when the assistant did not try to answer."
)
VERDICTS = ("CORRECT", "INCORRECT", "UNATTEMPTED")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", (text or "").lower())).strip()


def contains(answer: str, expected: str) -> bool:
    """The expected phrase is in the answer, or all of its words are (in any order: "Amazon rainforest
    expedition" is given by "an expedition in the Amazon rainforest")."""
    wanted, said = _norm(expected), _norm(answer)
    return bool(wanted) and (f" {wanted} " in f" {said} " or set(wanted.split()) <= set(said.split()))


def exact(answer: str, expected: str) -> bool:
    return _norm(answer) == _norm(expected)


def judge_model() -> str:
    return getattr(settings, "EVAL_JUDGE_MODEL", "") or ""


def judge(question: str, expected: str, answer: str) -> str:
    """CORRECT / INCORRECT / UNATTEMPTED from the judge model (EVAL_JUDGE_MODEL must be set)."""
    from agents.runtime.llm import complete
    from agents.runtime.providers import resolve_llm

    config = resolve_llm(judge_model())
    result = complete(
        config,
        [
            {"role": "system", "content": JUDGE_PROMPT},
            {"role": "user", "content": f"Question: {question}\nReference answer: {expected}\nAnswer given: {answer}"},
        ],
        max_tokens=10,
    )
    said = (result.content or "").strip().upper()
    return next((v for v in VERDICTS if said.startswith(v)), "INCORRECT")


def grade(grader: str, question: str, expected: str, answer: str) -> tuple[float, dict]:
    """(score, details). `judge` without a judge model configured falls back to `contains` (details say so)."""
    found = contains(answer, expected)
    details = {"contains": found}
    if grader == "exact":
        details["exact"] = exact(answer, expected)
        return float(details["exact"]), details
    if grader == "judge" or (grader == "contains+judge" and judge_model()):
        if not judge_model():
            details["judge"] = "not configured (EVAL_JUDGE_MODEL): graded by contains"
            return float(found), details
        details["judge"] = verdict = judge(question, expected, answer)
        details["judge_model"] = judge_model()
        return float(verdict == "CORRECT"), details
    return float(found), details
