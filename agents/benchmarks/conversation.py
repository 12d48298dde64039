"""Long-conversation retrieval (the memory-eval issue's own suite): vector, full-text and hybrid search compared.

A generated multi-session conversation (seeded, so every run is the same): each session has a date, two turns that
tell of an event (an activity with a named person at a place) and chatter that reuses the same names, places and
activities. Every turn is an archival passage of one agent; each event is asked about (who, when or where), and
the rank of its turn gives recall@5, recall@10 and MRR, as in `bench retrieval`.

    python manage.py bench conversation [--sessions 40] [--chatter 10] [--seed 7]
"""

import argparse
import random
from datetime import date, timedelta

from django.db import transaction

from .retrieval import MODES, Rollback, _agent_with, _ranks, _report

NAMES = (
    "Odile Varga Tomasz Leclerc Imani Okafor Ruben Hale Saskia Brandt Kenji Moreau Priya Nandakumar Felix Amaro "
    "Greta Lindqvist Malik Durand Yara Castell Otto Riemann Lena Petrov Caius Bell Noor Haddad Ivo Sandoval "
    "Marta Quist Dario Fenn Elif Kaya Hugo Brennan"
).split()
PEOPLE = [f"{a} {b}" for a, b in zip(NAMES[::2], NAMES[1::2], strict=True)]
PLACES = (
    "the harbour market", "the old observatory", "Café Lune", "the botanical garden", "the climbing gym",
    "the riverside park", "the central library", "the jazz cellar", "the ferry terminal", "the ceramics studio",
    "the night bazaar", "the ice rink", "the vineyard", "the chess club", "the lighthouse",
)  # fmt: skip
ACTIVITIES = (  # (told, asked, a topic of chatter)
    ("had lunch", "have lunch", "lunch"), ("played chess", "play chess", "chess"),
    ("went sketching", "go sketching", "sketching"), ("saw a concert", "see a concert", "concerts"),
    ("went rowing", "go rowing", "rowing"), ("baked bread", "bake bread", "baking"),
    ("watched the sunset", "watch the sunset", "sunsets"), ("went skating", "go skating", "skating"),
    ("tasted wine", "taste wine", "wine tasting"), ("repaired a bicycle", "repair a bicycle", "bicycle repairs"),
)  # fmt: skip
EVENT = (
    "On {day} I {act} with {who} at {where}.",
    "Quick note for {day}: {who} and I {act} at {where}.",
    "{day} was great, I {act} with {who} at {where}.",
)
CHATTER = (
    "I keep thinking about {noun}, maybe next month.",
    "{who} sent me a message but I have not answered yet.",
    "Do you think {where} is worth a visit in winter?",
    "Remind me to ask {who} about {noun}.",
    "The weather was grey all day, I mostly stayed in.",
    "I read that {where} is closing for renovations.",
    "Work was busy; nothing much happened today.",
    "{who} recommended a book about {noun}.",
)


def run(argv, out) -> None:
    parser = argparse.ArgumentParser(prog="manage.py bench conversation")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--chatter", type=int, default=10, help="chatter turns per session")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    turns, questions = conversation(args.sessions, args.chatter, random.Random(args.seed))
    out.write(
        f"Long conversation: {args.sessions} sessions, {len(turns)} turns as passages, {len(questions)} questions"
    )
    try:
        with transaction.atomic():
            agent = _agent_with(turns, out)
            results = {mode: _ranks(agent, questions, mode) for mode in MODES}
            raise Rollback
    except Rollback:
        pass
    _report(results, out)


def conversation(sessions: int, chatter: int, rng: random.Random) -> tuple[list[str], list[tuple[str, str]]]:
    """(turns, [(question, the turn that answers it)]); each (activity, person), (activity, place) and (activity,
    day) pair is told of once, so every question has one answer."""
    turns, questions, told = [], [], set()
    day = date(2024, 1, 6)
    for _ in range(sessions):
        day += timedelta(days=rng.randint(1, 6))
        stamp = f"[{day.isoformat()}] "
        session = []
        for _ in range(2):
            (act, ask, _noun), who, where = rng.choice(ACTIVITIES), rng.choice(PEOPLE), rng.choice(PLACES)
            if told & {(act, who), (act, where), (act, day)}:
                continue
            told |= {(act, who), (act, where), (act, day)}
            text = stamp + rng.choice(EVENT).format(day=day.strftime("%d %B"), act=act, who=who, where=where)
            session.append(text)
            questions.append((_question(rng, ask, who, where, day.strftime("%d %B")), text))
        for _ in range(chatter):
            noun, who, where = rng.choice(ACTIVITIES)[2], rng.choice(PEOPLE), rng.choice(PLACES)
            session.append(stamp + rng.choice(CHATTER).format(noun=noun, who=who, where=where))
        rng.shuffle(session)
        turns += session
    return turns, questions


def _question(rng, ask: str, who: str, where: str, day: str) -> str:
    return rng.choice(
        (
            f"Who did I {ask} with at {where}?",
            f"Who did I {ask} with on {day}?",
            f"When did {who} and I {ask}?",
            f"Where did I {ask} with {who}?",
        )
    )
