"""`conversation_search` on a long conversation (the memory-eval issue's own suite): words, meaning and hybrid.

The conversation of `bench conversation` (seeded: dated sessions, each telling of events — an activity with a named
person at a place — among chatter that reuses the same names, places and topics), stored as the messages of one
agent. Each event is asked about twice: once with its own words (a name or a date: where keywords shine) and once
paraphrased, sharing no content word with the message (where meaning shines). The rank of the event's message in
`conversation_search` gives recall@5, recall@10 and MRR per mode and per kind of question.

    python manage.py bench recall [--sessions 40] [--chatter 10] [--seed 7]
"""

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from django.db import transaction

from .conversation import ACTIVITIES, PLACES, conversation
from .retrieval import DEPTH, MODES, Rollback, metrics

# Said otherwise: each activity and place of conversation.py, with none of its content words.
ACTIVITY_PARAPHRASES = {
    "had lunch": "share a midday meal",
    "played chess": "have a match of the board game with kings and pawns",
    "went sketching": "draw pictures with a pencil",
    "saw a concert": "listen to live music on stage",
    "went rowing": "paddle a boat",
    "baked bread": "make loaves in the oven",
    "watched the sunset": "see the sky turn orange in the evening",
    "went skating": "glide around on blades",
    "tasted wine": "sample some vintages",
    "repaired a bicycle": "fix a broken bike",
}
PLACE_PARAPHRASES = {
    "the harbour market": "the stalls by the docks",
    "the old observatory": "the telescope building",
    "Café Lune": "a coffee shop named after the moon",
    "the botanical garden": "the place full of exotic plants",
    "the climbing gym": "the bouldering hall",
    "the riverside park": "the green space along the water",
    "the central library": "the big building full of books",
    "the jazz cellar": "the underground music club",
    "the ferry terminal": "where the boats leave for the islands",
    "the ceramics studio": "the pottery workshop",
    "the night bazaar": "the evening street fair",
    "the ice rink": "the frozen arena",
    "the vineyard": "the estate where grapes grow",
    "the chess club": "the society for board game players",
    "the lighthouse": "the tower that guides ships",
}
assert set(ACTIVITY_PARAPHRASES) == {a[0] for a in ACTIVITIES} and set(PLACE_PARAPHRASES) == set(PLACES)


def run(argv, out) -> None:
    parser = argparse.ArgumentParser(prog="manage.py bench recall")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--chatter", type=int, default=10, help="chatter turns per session")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    turns, asked = conversation(args.sessions, args.chatter, random.Random(args.seed))
    questions = paired_questions(turns, asked)
    out.write(
        f"conversation_search on a long conversation: {args.sessions} sessions, {len(turns)} messages, "
        f"{len(questions)} questions (half in the message's words, half paraphrased), MiniLM"
    )
    try:
        with transaction.atomic():
            agent = _agent_with(turns, out)
            results = {mode: ranks(agent, questions, mode) for mode in MODES}
            raise Rollback
    except Rollback:
        pass
    report(results, questions, out)


def paired_questions(turns: list[str], asked: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """[(kind, question, the message that answers it)]: each event's own question ("words") and its paraphrase."""
    out = []
    for question, answer in asked:
        out.append(("words", question, answer))
        act = next(a for a in ACTIVITY_PARAPHRASES if f" {a} " in answer)
        place = next(p for p in PLACE_PARAPHRASES if p in answer)
        out.append(("meaning", f"Who did I {ACTIVITY_PARAPHRASES[act]} with at {PLACE_PARAPHRASES[place]}?", answer))
    return out


def _agent_with(turns: list[str], out):
    from accounts.actions import create_user
    from memory.recall import embed_conversation

    user = create_user(f"bench-recall-{time.monotonic_ns()}", "unused password 1234", org_name="bench")
    agent = agent_with(user, {"name": "recall", "embedding": "local/all-minilm-l6-v2"}, turns, embed=False)
    started = time.perf_counter()
    embedded = embed_conversation(agent)
    out.write(f"  embedded {embedded} messages in {time.perf_counter() - started:.1f} s")
    return agent


def agent_with(user, spec: dict, turns: list[str], *, embed: bool = True):
    """An agent made from `spec` whose history holds `turns` as user messages a minute apart (embedded for search
    unless `embed` is false). The eval suite `conversation-retrieval` builds its agents through this too."""
    from agents.actions import create_agent
    from agents.models import Message
    from memory.recall import embed_conversation

    agent = create_agent(user, {"model": "engram/scripted", **spec})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    last = agent.messages.order_by("-seq").values_list("seq", flat=True).first() or 0
    Message.objects.bulk_create(
        Message(
            organization_id=agent.organization_id,
            agent=agent,
            seq=last + 1 + i,
            role="user",
            content=[{"type": "text", "text": text}],
            created_at=start + timedelta(minutes=i),
        )
        for i, text in enumerate(turns)
    )
    if embed:
        embed_conversation(agent)
    return agent


def rank_of(agent, question: str, answer: str, mode: str) -> int | None:
    """Where the message `answer` comes in the top DEPTH of `conversation_search` for `question`, or None."""
    from memory.recall import conversation_search

    results = conversation_search(agent, question, limit=DEPTH, search_mode=mode)["results"]
    texts = [r.get("content") for r in results]
    return texts.index(answer) + 1 if answer in texts else None


def ranks(agent, questions, mode: str) -> list[int | None]:
    return [rank_of(agent, question, answer, mode) for _kind, question, answer in questions]


def report(results: dict, questions, out) -> None:
    kinds = ("words", "meaning", None)
    out.write("")
    out.write(f"{'mode':<8}" + "".join(f"{(k or 'all') + ': R@5 / R@10 / MRR':>34}" for k in kinds))
    for mode, found in results.items():
        cells = []
        for kind in kinds:
            m = metrics([r for r, q in zip(found, questions, strict=True) if kind in (None, q[0])])
            cells.append(f"{m['recall@5']:.3f} / {m['recall@10']:.3f} / {m['mrr']:.3f}")
        out.write(f"{mode:<8}" + "".join(f"{c:>34}" for c in cells))
