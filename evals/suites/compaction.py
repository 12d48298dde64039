"""Suite 4: compaction integrity. One sample = a long scripted conversation (seeded by the sample's index) with a
small context window, so the agent compacts several times. The user tells one fact per turn between chatter.
Afterwards: every fact is found by `conversation_search` (the domain function the tool calls), the last turn is
still in context word for word, at least two compactions happened, and a question about the first fact (long
summarised away) is answered. Score 1 only when all hold; the details say which failed."""

import json
import random

from agents.benchmarks.conversation import PEOPLE, PLACES
from evals.grading import contains
from evals.suites.base import Outcome, Suite

THINGS = (
    ("keeps bees", "bees", "Who keeps bees?"),
    ("repairs clocks", "clocks", "Who repairs clocks?"),
    ("sings in a choir", "choir", "Who sings in a choir?"),
    ("breeds tortoises", "tortoises", "Who breeds tortoises?"),
    ("collects maps", "maps", "Who collects maps?"),
    ("builds kayaks", "kayaks", "Who builds kayaks?"),
    ("teaches fencing", "fencing", "Who teaches fencing?"),
    ("grows orchids", "orchids", "Who grows orchids?"),
    ("restores pianos", "pianos", "Who restores pianos?"),
    ("brews cider", "cider", "Who brews cider?"),
    ("carves spoons", "spoons", "Who carves spoons?"),
    ("flies gliders", "gliders", "Who flies gliders?"),
)
FILLER = (
    "The morning started slowly and the kettle took ages to boil.",
    "I spent a while sorting old papers into boxes and labelling them.",
    "The bus was late again, so I walked part of the way and enjoyed the air.",
    "Lunch was leftovers, which was fine, and the afternoon went by quietly.",
    "There was a long queue at the post office but the clerk was cheerful.",
    "I finally cleaned the windows, and the light in the kitchen is much better now.",
    "The radio played an old song I had not heard since school.",
    "I tried a new recipe with lentils and it turned out better than expected.",
)
CHECKS = ("several_compactions", "facts_found", "last_turn_intact", "first_fact_recalled")
TURNS = 30
ROOM = 1500  # tokens of conversation the window holds beyond the agent's system prompt (about 10 turns)


def script(index: int) -> list[dict]:
    """[{"text", "fact", "query", "question", "who"}]: one fact per turn; every friend is a different person and
    every (activity, place) pair is told once, so each question has one answer."""
    rng = random.Random(1000 + index)
    firsts, lasts = [p.split()[0] for p in PEOPLE], [p.split()[1] for p in PEOPLE]
    people = rng.sample([f"{f} {last}" for f in firsts for last in lasts], TURNS)
    things, places = rng.sample(THINGS, len(THINGS)), rng.sample(PLACES, len(PLACES))
    turns = []
    for n in range(TURNS):
        who, (does, word, question), where = people[n], things[n % len(things)], places[n % len(places)]
        fact = f"My friend {who} {does} near {where}."
        turns.append(
            {
                "text": f"{' '.join(rng.sample(FILLER, 4))} By the way, {fact} {' '.join(rng.sample(FILLER, 3))}",
                "fact": fact,
                "query": f"{who} {word}",
                "question": f"{question[:-1]} near {where}? Which friend of mine {does} there?",
                "who": who,
            }
        )
    return turns


class CompactionIntegrity(Suite):
    name = "compaction-integrity"
    title = "Compaction integrity"
    description = (
        f"A {TURNS}-turn conversation in a window {ROOM} tokens above the system prompt (several compactions), one "
        "fact per turn: "
        "each fact findable by conversation_search, the last turn intact, the first fact recalled."
    )
    grader = "checks"

    default_samples = 10

    def available(self, run) -> None:
        return None

    def rows(self, run) -> list[dict]:
        samples = max(int(run.samples or 1), 1)
        return [{"input": f"conversation {i}", "ground_truth": ""} for i in range(samples)]

    def play(self, sample) -> Outcome:
        turns = script(sample.index)
        agent = fit_window(sample, sample.create_agent({}))
        last_reply = ""
        for turn in turns:
            last_reply = sample.say(turn["text"])
        checks = integrity(agent, turns, last_reply)
        first = turns[0]
        answer = sample.say(first["question"])
        checks["first_fact_recalled"] = contains(answer, first["who"])
        failed = [name for name in CHECKS if not checks[name]]
        return Outcome(first["question"], first["who"], answer, 0.0 if failed else 1.0, {**checks, "failed": failed})


def fit_window(sample, agent):
    """The window: the agent's own system prompt plus ROOM, whatever its type and blocks (set through the same
    update as the API's)."""
    from agents.actions import update_agent
    from agents.models import Message
    from memory.summarize import count

    system = count(agent, [Message.objects.get(id=agent.message_ids[0])])
    return update_agent(sample.user, agent.id, {"context_window_limit": system + ROOM})


def integrity(agent, turns: list[dict], last_reply: str) -> dict:
    from agents.models import Agent, Message
    from memory.recall import conversation_search

    agent = Agent.objects.get(id=agent.id)
    compactions = sum(1 for m in Message.objects.filter(agent_id=agent.id, role="user") if is_summary(m))
    lost = []
    for turn in turns:
        found = conversation_search(agent, turn["query"], roles=["user"], limit=5)["results"]
        if not any(turn["fact"] in _text(r) for r in found):
            lost.append(turn["fact"])
    return {
        "compactions": compactions,
        "several_compactions": compactions >= 2,
        "facts_found": not lost,
        "lost": lost,
        "last_turn_intact": last_turn_intact(agent, turns[-1]["text"], last_reply),
    }


def last_turn_intact(agent, said: str, reply: str) -> bool:
    """The last turn's input and every message it produced are still in context, in order, at the end (after
    the system message and any summary), and the reply the user got is among them."""
    from agents.models import Message, Run

    run = Run.objects.filter(agent_id=agent.id).order_by("-created_at").first()
    rows = list(Message.objects.filter(run_id=run.id).order_by("seq", "created_at")) if run else []
    rows = [m for m in rows if not is_summary(m)]  # a compaction at the end of the turn carries its run id
    inputs = [m for m in rows if m.role == "user" and said in _text(m.content)]
    if not rows or not inputs or not reply:
        return False
    ids = [m.id for m in rows]
    tail = list(agent.message_ids[-len(ids) :])
    return tail == ids and any(reply in _words_of(m) for m in rows)


def is_summary(message) -> bool:
    return message.role == "user" and "context_tokens_before" in _text(message.content)


def _words_of(message) -> str:
    """A stored message's text and its tool calls' arguments, decoded (send_message carries the reply there)."""
    parts = [p.get("text", "") for p in message.content or [] if isinstance(p, dict)]
    for call in message.tool_calls or []:
        try:
            parts.append(_text(json.loads(call["function"]["arguments"])))
        except (KeyError, TypeError, ValueError):
            continue
    return "\n".join(parts)


def _text(value) -> str:
    return json.dumps(value, ensure_ascii=False)
