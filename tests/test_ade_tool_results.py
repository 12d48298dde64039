"""Tool returns in the transcript (#15 small things): archival_memory_search's results (the Python repr the model
reads) are drawn as a readable list, and a live turn hides send_message's own return row as the final transcript
does, naming the tool of the other returns."""

import pytest

from agents.actions import create_agent
from agents.models import Run
from agents.pages.live import PageStream
from agents.pages.templates_catalog import blank_spec
from agents.templatetags.ade import tool_result

SEARCH_REPR = str(
    [
        {
            "id": "passage-1",
            "timestamp": "2026-12-01 09:00:00 AM UTC+0000",
            "content": "Ada likes <tea>",
            "tags": ["a"],
        },
        {"id": "passage-2", "timestamp": "2026-12-02 10:00:00 AM UTC+0000", "content": "Ada's cat: Io", "tags": []},
    ]
)


def test_search_results_are_a_list_not_a_repr():
    html = str(tool_result(SEARCH_REPR))
    assert html.startswith('<ol class="result-list">') and html.count("<li>") == 2
    assert "Ada likes &lt;tea&gt;" in html and "2026-12-01 09:00:00 AM UTC+0000 · a" in html
    assert "{'id'" not in html and "Ada&#x27;s cat: Io" in html


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("None", "<pre>None</pre>"),
        ("Sent message successfully.", "<pre>Sent message successfully.</pre>"),
        ("__import__('os').system('x')", "<pre>__import__(&#x27;os&#x27;).system(&#x27;x&#x27;)</pre>"),
        ('{"ok": true}', "<pre>{\n  &quot;ok&quot;: true\n}</pre>"),
    ],
)
def test_other_returns_are_shown_as_they_are_or_indented(value, shown):
    assert str(tool_result(value)) == shown


@pytest.mark.django_db
def test_a_live_turn_hides_send_message_returns_and_names_the_others(alice):
    agent = create_agent(alice, {**blank_spec("Live"), "agent_type": "memgpt_v2_agent"})
    run = Run.objects.create(organization_id=agent.organization_id, agent=agent)
    stream = PageStream(agent.id)

    def push(message):
        return stream.render({"type": "run_event", "run_id": run.id, "event": {"run_id": run.id, **message}})

    for call_id, name in (("call-1", "archival_memory_search"), ("call-2", "send_message")):
        call = {"name": name, "arguments": "{}", "tool_call_id": call_id}
        push({"id": f"message-{call_id}", "message_type": "tool_call_message", "tool_call": call})
    search = push(
        {
            "id": "message-r1",
            "message_type": "tool_return_message",
            "tool_call_id": "call-1",
            "status": "success",
            "tool_return": SEARCH_REPR,
        }
    )
    assert "<code>archival_memory_search</code>" in search and 'class="result-list"' in search
    sent = push(
        {
            "id": "message-r2",
            "message_type": "tool_return_message",
            "tool_call_id": "call-2",
            "status": "success",
            "tool_return": "Sent message successfully.",
        }
    )
    assert sent == ""
