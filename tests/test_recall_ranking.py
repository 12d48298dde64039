"""conversation_search ranks by relevance: any word of the query finds a message, the phrase and rarer words rank
first, and role and date filters apply before the limit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from memory.recall import conversation_search
from tests.test_recall import contents, make_agent, say

pytestmark = pytest.mark.django_db

KEY = "We fly to Zanzibar on 3 May with Odile."


def chatter(agent, n, **kwargs):
    for i in range(n):
        say(agent, "user", f"Is the weather nice on day {i}? I went to the shop.", **kwargs)


def test_words_in_any_order_and_the_rare_word_ranks_first(org):
    agent = make_agent(org)
    say(agent, "user", KEY, ago=timedelta(days=30))
    chatter(agent, 12)
    # Not the phrase, words in another order: the old behaviour (phrase only) found nothing.
    assert contents(conversation_search(agent, "when is the trip to zanzibar", limit=1)) == [KEY]
    assert contents(conversation_search(agent, "Odile may", limit=1)) == [KEY]
    # The exact phrase outranks messages that merely share more common words.
    say(agent, "assistant", "The shop sells weather maps.")
    top = contents(conversation_search(agent, "the shop", limit=3))
    assert top[0] == "The shop sells weather maps." and len(top) == 3
    assert conversation_search(agent, "giraffe xylophone")["results"] == []


def test_role_and_date_filters_apply_before_the_limit(org):
    agent = make_agent(org)
    say(agent, "user", KEY, ago=timedelta(days=30))
    for i in range(8):  # newer and more relevant assistant messages
        say(agent, "assistant", f"Zanzibar Zanzibar note {i} about May with Odile")
    assert contents(conversation_search(agent, "zanzibar odile", roles=["user"], limit=1)) == [KEY]
    week_ago = (timezone.now() - timedelta(days=7)).date().isoformat()
    newer = contents(conversation_search(agent, "zanzibar", start_date=week_ago, limit=100))
    assert len(newer) == 8 and KEY not in newer
    older = contents(conversation_search(agent, "zanzibar", end_date=week_ago, limit=1))
    assert older == [KEY]
