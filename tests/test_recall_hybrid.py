"""conversation_search by meaning and hybrid (#16): a paraphrase finds a message that shares no word with it, the
fused ranking keeps what words find, filters apply before the limit, and messages are embedded once, at search
time (never by a turn)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from agents.runtime.providers import resolve_embedding
from memory.models import RecallVector
from memory.recall import conversation_search
from tests.test_recall import contents, make_agent, say

pytestmark = pytest.mark.django_db

LUNCH = "Yesterday I ate a sandwich with my sister."
CHATTER = (
    "The weather was grey all day, I mostly stayed in.",
    "Work was busy; nothing much happened today.",
    "I read that the library is closing for renovations.",
    "My laptop keeps crashing when I open the spreadsheet.",
    "The bus was late again this morning.",
)


def minilm_agent(org):
    return make_agent(org, embedding_config=resolve_embedding("local/all-minilm-l6-v2"))


def talk(agent):
    say(agent, "user", LUNCH, ago=timedelta(days=3))
    for i, line in enumerate(CHATTER * 2):
        say(agent, "user", line, ago=timedelta(hours=i))
    say(agent, "assistant", "Zanzibar flight booked for 3 May.")


def test_a_paraphrase_is_found_by_meaning_not_by_words(org):
    agent = minilm_agent(org)
    talk(agent)
    question = "midday meal alongside a sibling"  # no word in common with LUNCH
    assert conversation_search(agent, question, search_mode="fts")["results"] == []
    assert contents(conversation_search(agent, question, search_mode="vector", limit=1)) == [LUNCH]
    assert contents(conversation_search(agent, question, limit=1)) == [LUNCH]  # hybrid, the default


def test_hybrid_keeps_what_words_find(org):
    agent = minilm_agent(org)
    talk(agent)
    # A rare name: the word ranking puts it first, and the fusion keeps it there.
    assert contents(conversation_search(agent, "Zanzibar", limit=1)) == ["Zanzibar flight booked for 3 May."]


def test_role_and_date_filters_apply_before_the_limit_by_meaning(org):
    agent = minilm_agent(org)
    talk(agent)
    say(agent, "assistant", "You had lunch with your sister, how nice.")  # nearer, but an assistant message
    found = contents(conversation_search(agent, "midday meal alongside a sibling", roles=["user"], limit=1))
    assert found == [LUNCH]
    question, since = "midday meal alongside a sibling", _days_ago(1)
    recent = contents(conversation_search(agent, question, search_mode="vector", limit=3, start_date=since))
    assert LUNCH not in recent and len(recent) == 3


def _days_ago(n: int) -> str:
    return (timezone.now() - timedelta(days=n)).date().isoformat()


def test_messages_are_embedded_once_at_search_time(org):
    agent = minilm_agent(org)
    talk(agent)
    assert not RecallVector.objects.filter(agent_id=agent.id).exists()  # writing messages embeds nothing
    conversation_search(agent, "sandwich")
    stored = dict(RecallVector.objects.filter(agent_id=agent.id).values_list("message_id", "embedding_model"))
    assert len(stored) == agent.messages.count() and set(stored.values()) == {"local/all-minilm-l6-v2"}
    say(agent, "user", "A new message arrives.")
    conversation_search(agent, "sandwich")
    assert RecallVector.objects.filter(agent_id=agent.id).count() == len(stored) + 1  # only the new one


def test_an_embedder_that_fails_leaves_the_word_ranking(org, settings):
    agent = make_agent(org, embedding_config={"embedding_endpoint_type": "openai", "embedding_model": "nope",
                                               "embedding_endpoint": "http://127.0.0.1:9/v1", "embedding_dim": 8})  # fmt: skip
    talk(agent)
    assert contents(conversation_search(agent, "sandwich sister", limit=1)) == [LUNCH]


@override_settings(CONVERSATION_SEARCH_MODE="fts")
def test_the_server_setting_chooses_the_default_mode(org):
    agent = minilm_agent(org)
    talk(agent)
    assert conversation_search(agent, "midday meal alongside a sibling")["results"] == []
    with pytest.raises(Exception, match="search_mode must be one of"):
        conversation_search(agent, "x", search_mode="bm25")


def test_an_edited_message_is_embedded_again(org, alice):
    from agents.actions.messages import edit_message

    agent = minilm_agent(org)
    talk(agent)
    conversation_search(agent, "sandwich")
    lunch = agent.messages.get(content__icontains="sandwich")
    edit_message(alice, agent.id, lunch.id, {"message_type": "user_message", "content": "I went skiing in Norway."})
    assert not RecallVector.objects.filter(message_id=lunch.id).exists()
    found = contents(conversation_search(agent, "winter sports trip to Scandinavia", search_mode="vector", limit=1))
    assert found == ["I went skiing in Norway."]
