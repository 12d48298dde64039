"""The in-context rows kept between turns (agents/runtime/records.load_context) are bounded in agents and in rows,
and a turn after its agent was dropped reads the same rows again from the database."""

import pytest

from agents.actions import create_agent
from agents.models import Agent, Message
from agents.pages.templates_catalog import blank_spec
from agents.runtime import records
from agents.runtime.packaging import text_parts


@pytest.fixture
def cache(monkeypatch):
    monkeypatch.setattr(records, "_CONTEXT_CACHE", records.OrderedDict())
    monkeypatch.setattr(records, "_CONTEXT_CACHE_ROWS", 25)
    return records._CONTEXT_CACHE


def talked(user, name: str, turns: int) -> Agent:
    agent = create_agent(user, blank_spec(name))
    rows = [
        Message.objects.create(
            organization_id=agent.organization_id, agent=agent, role=role, content=text_parts(f"{name} {role} {i}")
        )
        for i in range(turns)
        for role in ("user", "assistant")
    ]
    Agent.objects.filter(id=agent.id).update(message_ids=[*agent.message_ids, *(m.id for m in rows)])
    return Agent.objects.get(id=agent.id)


def texts(context: list[Message]) -> list[str]:
    return [m.text for m in context[1:]]


@pytest.mark.django_db
def test_the_least_recently_used_agent_goes_once_the_rows_exceed_the_bound(alice, cache):
    ada, bo, cy = talked(alice, "ada", 5), talked(alice, "bo", 5), talked(alice, "cy", 5)
    first = texts(records.load_context(ada))
    records.load_context(bo)
    assert list(cache) == [ada.id, bo.id]
    records.load_context(ada)  # used again: bo is now the least recently used
    records.load_context(cy)
    assert list(cache) == [ada.id, cy.id]
    assert sum(len(kept) for _stamp, kept in cache.values()) <= 25
    assert texts(records.load_context(bo))[-2:] == ["bo user 4", "bo assistant 4"]  # read again
    assert texts(records.load_context(ada)) == first and "ada assistant 4" in first


@pytest.mark.django_db
def test_one_agent_larger_than_the_bound_is_still_kept(alice, cache):
    big = talked(alice, "big", 20)
    context = records.load_context(big)
    assert list(cache) == [big.id] and len(cache[big.id][1]) == len(context) - 1 > 25
