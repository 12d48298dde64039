"""File tools (spec behaviour §3.1, §1.5): folders attached to an agent open as windows in its context; the model
opens, greps and searches them by meaning through the tools, the same way a real turn does."""

import pytest

from agents import runs
from agents.actions import attach_folder, create_agent, detach_folder
from agents.models import FileAgent, Message
from memory.ingest import upload_file
from memory.models import Folder
from tools.executor import execute_tool
from tools.models import Tool

MANUAL = "\n".join(f"Step {i}: turn valve {i} clockwise." for i in range(1, 41)) + "\nStep 41: call the PUMP engineer."
RECIPES = "Bread needs flour, water, salt and yeast.\n\nBake the loaf for forty minutes until golden."


@pytest.fixture
def folder(alice, django_capture_on_commit_callbacks):
    folder = Folder.objects.create(
        organization=alice.organization, name="handbook", embedding_config={}, description="Plant handbook"
    )
    with django_capture_on_commit_callbacks(execute=True):
        upload_file(alice.organization, folder, name="manual.txt", data=MANUAL.encode())
        upload_file(alice.organization, folder, name="recipes.md", data=RECIPES.encode())
    return folder


@pytest.fixture
def agent(alice, scripted_llm, folder):
    agent = create_agent(
        alice,
        {
            "name": "reader",
            "max_files_open": 2,
            "per_file_view_window_char_limit": 300,
            "memory_blocks": [{"label": "human", "value": ""}],
        },
    )
    return attach_folder(alice, agent.id, folder.id)


def call(agent, name, **args):
    agent.refresh_from_db()
    result = execute_tool(agent, Tool.objects.get(organization=agent.organization, name=name), args)
    return result.status, result.func_return


def system_prompt(agent):
    agent.refresh_from_db()
    return Message.objects.get(id=agent.message_ids[0]).text


def test_attaching_a_folder_opens_its_files_and_adds_the_tools(alice, agent, folder):
    names = set(agent.tools.values_list("name", flat=True))
    assert {"open_files", "grep_files", "semantic_search_files"} <= names
    prompt = system_prompt(agent)
    assert '<directory name="handbook">' in prompt and "<description>Plant handbook</description>" in prompt
    assert '<file status="open" name="handbook/manual.txt">' in prompt
    assert "1: Step 1: turn valve 1 clockwise." in prompt
    manual = FileAgent.objects.get(agent=agent, file__file_name="manual.txt")
    assert len(manual.visible_content) <= 300 and manual.start_line == 1  # cut to the per-file limit
    detach_folder(alice, agent.id, folder.id)
    assert not FileAgent.objects.filter(agent=agent).exists()
    assert not {"open_files", "grep_files"} & set(agent.tools.values_list("name", flat=True))
    assert "<directories>" not in system_prompt(agent)


def test_open_files_moves_the_window_and_closes_the_least_recently_used(
    alice, agent, folder, django_capture_on_commit_callbacks
):
    status, text = call(
        agent, "open_files", file_requests=[{"file_name": "handbook/manual.txt", "offset": 39, "length": 2}]
    )
    assert status == "success"
    assert text.startswith("* Opened handbook/manual.txt (lines 40-41) (previously lines 1-")
    assert "40: Step 40: turn valve 40 clockwise.\n41: Step 41: call the PUMP engineer." in system_prompt(agent)
    with django_capture_on_commit_callbacks(execute=True):  # a third file: over max_files_open=2
        upload_file(alice.organization, folder, name="extra.txt", data=b"An extra note.")
    status, text = call(agent, "open_files", file_requests=[{"file_name": "recipes.md"}])
    assert "Note: Closed 1 least recently used file(s) due to open file limit: handbook/manual.txt" in text
    assert FileAgent.objects.filter(agent=agent, is_open=True).count() == 2


@pytest.mark.parametrize(
    "request_, error",
    [
        (
            [{"file_name": "nope.txt"}],
            "nope.txt not attached - did you get the filename correct? Currently you have "
            "the following files attached: ['handbook/manual.txt', 'handbook/recipes.md']",
        ),
        ([], "No file requests provided"),
        ([{"file_name": "recipes.md"}] * 3, "Cannot open 3 files: exceeds configured maximum limit of 2 files"),
        ([{"file_name": "recipes.md", "offset": -1}], "offset must be a whole number of lines, 0 or more"),
        ([{"file_name": "recipes.md", "offset": 99}], "offset 99 is past the end of recipes.md, which has 3 lines"),
    ],
)
def test_open_files_refuses_bad_requests_and_changes_nothing(agent, request_, error):
    before = list(FileAgent.objects.filter(agent=agent).values_list("is_open", "visible_content"))
    status, text = call(agent, "open_files", file_requests=request_)
    assert status == "error" and error in text
    assert list(FileAgent.objects.filter(agent=agent).values_list("is_open", "visible_content")) == before


def test_grep_files_shows_matches_with_context_and_pages(agent):
    status, text = call(agent, "grep_files", pattern="valve 1[0-9]\\b", context_lines=1)
    assert status == "success"
    assert text.startswith("Found 10 matches in 1 files for pattern: 'valve 1[0-9]\\b'")
    assert "> 10: Step 10: turn valve 10 clockwise." in text and "  9: Step 9: turn valve 9 clockwise." in text
    status, text = call(agent, "grep_files", pattern="step", include="manual")
    assert "Found 41 matches" in text and "Showing matches 1-20" in text and "offset=20" in text
    status, text = call(agent, "grep_files", pattern="step", offset=40)
    assert "Showing matches 41-41:" in text and "> 41: Step 41: call the PUMP engineer." in text
    assert call(agent, "grep_files", pattern="pump")[1].startswith("Found 1 matches")  # case-insensitive
    assert call(agent, "grep_files", pattern="(") == (
        "error",
        "Invalid regex pattern: missing ), unterminated subpattern at position 0",
    )
    assert call(agent, "grep_files", pattern="")[1] == "Empty search pattern provided"


def test_semantic_search_files_finds_passages_by_meaning(agent):
    status, text = call(agent, "semantic_search_files", query="how long should the loaf be baked?", limit=1)
    assert status == "success"
    assert text.startswith("Found 1 semantic matches in 1 files for query: 'how long should the loaf be baked?'")
    assert "=== handbook/recipes.md" in text and "forty minutes" in text


def test_a_turn_opens_a_file_and_the_next_request_sees_the_window(alice, agent, scripted_llm):
    scripted_llm.queue_tool_call("open_files", {"file_requests": [{"file_name": "handbook/manual.txt", "offset": 40}]})
    scripted_llm.queue_text("Step 41 says to call the pump engineer.")
    run = runs.start_turn(alice, agent.id, [{"role": "user", "content": "what is the last step?"}])
    runs.submit(run)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    second_request = scripted_llm.requests()[1]
    system = second_request["messages"][0]["content"]
    system = system if isinstance(system, str) else "".join(p.get("text", "") for p in system)
    assert "41: Step 41: call the PUMP engineer." in system
    assert '<file status="open" name="handbook/manual.txt">' in system
