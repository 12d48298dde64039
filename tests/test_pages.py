"""The ADE pages through the Django test client: every screen and partial renders, forms validate inline,
CSRF is enforced, sign-in is required, and another organization's agents are a 404."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from agents.actions import create_agent
from agents.pages.templates_catalog import BY_KEY, blank_spec
from memory.actions import Actor, update_block
from memory.models import BlockHistory

HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def agent(alice):
    return create_agent(alice, BY_KEY["personal_assistant"].spec("Helper"))


@pytest.fixture
def client(alice):
    return signed_in(alice)


def human(agent):
    return agent.blocks.get(label="human")


# ---- sign-in, sign-out, access ----------------------------------------------------------------------------------


def test_pages_require_sign_in(agent):
    anonymous = Client()
    for url in (reverse("agents:list"), reverse("agents:workspace", args=[agent.id]), reverse("accounts:api_keys")):
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_sign_in_and_out(alice):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    bad = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and b"Please enter a correct username and password" in bad.content
    ok = client.post("/login/", {"username": "alice", "password": "correct horse battery"})
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_another_organization_gets_404_everywhere(agent, mallory):
    client = signed_in(mallory)
    block = human(agent)
    for url in (
        reverse("agents:workspace", args=[agent.id]),
        reverse("agents:memory", args=[agent.id]),
        reverse("agents:block_history", args=[agent.id, block.id]),
        reverse("agents:export", args=[agent.id]),
        reverse("agents:context", args=[agent.id]),
    ):
        assert client.get(url).status_code == 404, url
    saved = client.post(reverse("agents:block_save", args=[agent.id, block.id]), {"version": 1, "value": "pwned"})
    assert saved.status_code == 404
    assert "pwned" not in human(agent).value
    assert agent.name not in client.get(reverse("agents:list")).content.decode()


def test_csrf_is_enforced_on_forms(agent, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(reverse("agents:workspace", args=[agent.id]))
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.content.decode()).group(1)  # hx-headers on <body>
    url = reverse("agents:block_save", args=[agent.id, human(agent).id])
    data = {"version": human(agent).version, "value": "Name: Ada", "read_only_present": "1"}
    assert client.post(url, data).status_code == 403
    assert client.post(url, data, HTTP_X_CSRFTOKEN=token, **HTMX).status_code == 200
    assert human(agent).value == "Name: Ada"


# ---- agents list -------------------------------------------------------------------------------------------------


def test_agents_list_search_tag_filter_and_sort(alice, client):
    create_agent(alice, BY_KEY["research_analyst"].spec("Zeta research"))
    create_agent(alice, BY_KEY["coding_assistant"].spec("Alpha coder"))
    create_agent(alice, blank_spec("Middle"))
    page = client.get(reverse("agents:list")).content.decode()
    assert page.index("Middle") < page.index("Alpha coder") < page.index("Zeta research")  # newest first
    by_name = client.get(reverse("agents:list"), {"sort": "name"}, **HTMX).content.decode()
    assert 'id="agent-results"' in by_name and "<html" not in by_name  # the partial only
    assert by_name.index("Alpha coder") < by_name.index("Middle") < by_name.index("Zeta research")
    found = client.get(reverse("agents:list"), {"q": "cod"}, **HTMX).content.decode()
    assert "Alpha coder" in found and "Zeta" not in found and "Middle" not in found
    tagged = client.get(reverse("agents:list"), {"tag": "research"}, **HTMX).content.decode()
    assert "Zeta research" in tagged and "Alpha coder" not in tagged
    none = client.get(reverse("agents:list"), {"q": "nothing like this"}, **HTMX).content.decode()
    assert "No agents match" in none


def test_empty_agents_list_invites_to_create(client):
    page = client.get(reverse("agents:list")).content.decode()
    assert "No agents yet" in page and reverse("agents:create") in page


@pytest.mark.parametrize(
    "template", ["", "customer_support", "personal_assistant", "research_analyst", "coding_assistant"]
)
def test_create_agent_blank_or_from_template(client, alice, template):
    response = client.post(reverse("agents:create"), {"name": "New one", "template": template}, **HTMX)
    assert response.status_code == 200
    from agents.models import Agent

    agent = Agent.objects.get(name="New one", organization=alice.organization)
    assert response["HX-Redirect"] == reverse("agents:workspace", args=[agent.id])
    labels = set(agent.blocks.values_list("label", flat=True))
    assert {"persona", "human"} <= labels
    if template:
        expected = {b["label"] for b in BY_KEY[template].blocks}
        assert labels == expected
        assert {"archival_memory_insert", "archival_memory_search"} <= set(agent.tools.values_list("name", flat=True))
    assert client.get(reverse("agents:workspace", args=[agent.id])).status_code == 200


def test_create_agent_of_another_type(client, alice):
    from agents.models import Agent

    client.post(reverse("agents:create"), {"name": "Classic", "template": "", "agent_type": "memgpt_v2_agent"}, **HTMX)
    agent = Agent.objects.get(name="Classic", organization=alice.organization)
    assert agent.agent_type == "memgpt_v2_agent" and agent.tools.filter(name="send_message").exists()


def test_create_agent_errors_are_inline(client):
    response = client.post(reverse("agents:create"), {"name": "bad/name!", "template": ""}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "name may only contain" in html and 'id="create-agent-form"' in html
    assert client.post(reverse("agents:create"), {"name": ""}, **HTMX).status_code == 400


def test_delete_agent_asks_first(client, agent):
    confirm = client.get(reverse("agents:delete", args=[agent.id]), **HTMX)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert agent.__class__.objects.filter(id=agent.id).exists()
    done = client.post(reverse("agents:delete", args=[agent.id]), **HTMX)
    assert done["HX-Redirect"] == reverse("agents:list")
    assert not agent.__class__.objects.filter(id=agent.id).exists()


# ---- the workspace ----------------------------------------------------------------------------------------------


def test_workspace_and_every_panel_render(client, agent):
    page = client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    for region in (
        'id="left-panel"',
        'id="chat-panel"',
        'id="right-panel"',
        'id="context-window"',
        f'ws-connect="/ws/agents/{agent.id}/?left=',  # the socket is told which left tab to refresh
        'id="composer-text"',
        "Start a conversation",
    ):
        assert region in page, region
    for name in ("settings", "tools", "folders", "memory", "archival"):
        url = reverse(f"agents:{name}", args=[agent.id])
        full = client.get(url)
        partial = client.get(url, **HTMX)
        assert full.status_code == partial.status_code == 200, name
        assert "<html" in full.content.decode() and "<html" not in partial.content.decode(), name
        assert 'aria-selected="true"' in partial.content.decode()
    chat = client.get(reverse("agents:chat", args=[agent.id]), **HTMX).content.decode()
    assert chat.startswith('<div class="chat-inner" id="chat-inner"') and "Start a conversation" in chat
    context = client.get(reverse("agents:context", args=[agent.id]), **HTMX).content.decode()
    assert "Core memory" in context and "32,000" in context


def test_context_viewer_counts_core_memory_tokens(client, agent, alice):
    def core_tokens():
        html = client.get(reverse("agents:context", args=[agent.id]), **HTMX).content.decode()
        return int(re.search(r'data-tokens="core_memory">([\d,]+)<', html).group(1).replace(",", ""))

    before = core_tokens()
    block = human(agent)
    update_block(
        agent.organization, block.id, {"value": block.value + "\n" + "Ada likes chess. " * 20}, actor=Actor.user(alice)
    )
    assert core_tokens() > before


# ---- core memory ------------------------------------------------------------------------------------------------


def save(client, agent, block, value, version, **extra):
    data = {"version": version, "base_version": version, "value": value, "read_only_present": "1", **extra}
    return client.post(reverse("agents:block_save", args=[agent.id, block.id]), data, **HTMX)


def test_block_save_shows_the_new_version_and_counter(client, agent):
    block = human(agent)
    response = save(client, agent, block, "Name: Ada", block.version)
    html = response.content.decode()
    assert response.status_code == 200 and "Saved" in html
    assert "9 / 5,000" in html and f'id="{block.id}"' in html
    block.refresh_from_db()
    assert block.value == "Name: Ada" and block.history.order_by("-version").first().actor_type == "user"


def test_block_over_its_limit_is_refused_inline_and_keeps_my_text(client, agent):
    block = human(agent)
    too_long = "x" * (block.limit + 1)
    response = save(client, agent, block, too_long, block.version)
    assert response.status_code == 422
    html = response.content.decode()
    assert f"Exceeds {block.limit} character limit" in html and too_long in html
    assert 'class="counter over"' in html
    assert human(agent).value == block.value


def test_stale_save_shows_both_versions_and_loses_nothing(client, agent, bob):
    block = human(agent)
    assert block.value == "Name: not known yet\nPreferences:\nImportant dates:"
    seen = block.version
    theirs = "Name: not known yet\nPreferences:\nImportant dates: May 1"
    update_block(agent.organization, block.id, {"value": theirs}, actor=Actor.user(bob))  # bob saved first
    mine = "Name: Ada\nPreferences:\nImportant dates:"
    response = save(client, agent, block, mine, seen)
    assert response.status_code == 409
    html = response.content.decode()
    assert f">{mine}</textarea>" in html  # my text is still in the editor
    assert "Important dates: May 1" in html and "Bob saved version 2" in html  # theirs is shown beside it
    assert human(agent).value == theirs  # nothing overwritten
    # merge: the two changes touch different lines, so both are kept, for me to review and save
    merged = save(client, agent, block, mine, seen + 1, base_version=seen, merge="1").content.decode()
    assert ">Name: Ada\nPreferences:\nImportant dates: May 1</textarea>" in merged
    assert human(agent).value == theirs
    # overwrite deliberately: the conflict form carries their version, so this save is not stale
    done = save(client, agent, block, "Name: Ada\nPreferences:\nImportant dates: May 1", seen + 1)
    assert done.status_code == 200 and human(agent).value == "Name: Ada\nPreferences:\nImportant dates: May 1"


def test_three_way_merge_marks_overlapping_edits():
    from agents.pages.textmerge import merge_texts

    assert merge_texts("a\nb\nc", "A\nb\nc", "a\nb\nC") == ("A\nb\nC", True)
    text, clean = merge_texts("Name: x", "Name: Ada", "Name: Bob")
    assert not clean and "Name: Ada" in text and "Name: Bob" in text and "<<<<<<< yours" in text


def test_read_only_toggle_and_details(client, agent):
    block = human(agent)
    save(
        client,
        agent,
        block,
        block.value,
        block.version,
        read_only="on",
        label="human",
        limit=6000,
        description="About the person",
    )
    block.refresh_from_db()
    assert block.read_only and block.limit == 6000 and block.description == "About the person"
    save(client, agent, block, block.value, block.version)  # unticked checkbox
    block.refresh_from_db()
    assert not block.read_only


def test_history_shows_who_and_diff_and_undo_restores(client, agent, alice):
    block = human(agent)
    original = block.value
    update_block(agent.organization, block.id, {"value": "Name: Ada"}, actor=Actor.agent(agent, "memory_replace"))
    update_block(agent.organization, block.id, {"value": "Name: Ada Lovelace"}, actor=Actor.user(alice))
    html = client.get(reverse("agents:block_history", args=[agent.id, block.id]), **HTMX).content.decode()
    assert "agent · memory_replace" in html and "agent tool" in html and "alice" in html
    assert (
        "<ins>Lovelace</ins>" in html.replace("<ins> Lovelace</ins>", "<ins>Lovelace</ins>") or "Lovelace</ins>" in html
    )
    restored = client.post(reverse("agents:block_undo", args=[agent.id, block.id]), {"version": 1}, **HTMX)
    assert restored.status_code == 200
    block.refresh_from_db()
    assert block.value == original and block.version == 4
    assert BlockHistory.objects.filter(block=block).count() == 4  # the undo is a change of its own


def test_create_attach_and_detach_blocks(client, agent, alice):
    url = reverse("agents:block_create", args=[agent.id])
    bad = client.post(url, {"label": "", "value": "x"}, **HTMX)
    assert bad.status_code == 400 and "This field is required" in bad.content.decode()
    ok = client.post(url, {"label": "project", "value": "Engram", "limit": 500, "description": "The project"}, **HTMX)
    assert ok.status_code == 200 and "project" in ok.content.decode()
    project = agent.blocks.get(label="project")
    other = create_agent(alice, blank_spec("Other"))
    attach = client.post(reverse("agents:block_attach", args=[other.id]), {"block_id": project.id}, **HTMX)
    assert attach.status_code == 200 and other.blocks.filter(id=project.id).exists()
    assert "shared" in client.get(reverse("agents:memory", args=[agent.id]), **HTMX).content.decode()
    detach = client.post(reverse("agents:block_detach", args=[other.id, project.id]), **HTMX)
    assert detach.status_code == 200 and not other.blocks.filter(id=project.id).exists()
    assert agent.blocks.filter(id=project.id).exists()


# ---- API keys ---------------------------------------------------------------------------------------------------


def test_api_key_is_shown_once_and_can_be_revoked(client, alice):
    from accounts.actions import user_for_key

    created = client.post(reverse("accounts:api_keys"), {"name": "laptop"}, **HTMX).content.decode()
    raw = re.search(r'id="new-key-value">(sk-engram-[^<]+)<', created).group(1)
    assert user_for_key(raw) == alice
    listing = client.get(reverse("accounts:api_keys")).content.decode()
    assert "laptop" in listing and raw not in listing and raw[:16] in listing
    key = alice.api_keys.get(name="laptop")
    revoked = client.post(reverse("accounts:revoke_key", args=[key.id]), **HTMX)
    assert revoked.status_code == 200 and "revoked" in revoked.content.decode()
    assert user_for_key(raw) is None


def test_user_menu_links_admin_for_staff_only(client, alice):
    assert "/admin/" not in client.get(reverse("agents:list")).content.decode()
    alice.is_staff = True
    alice.save()
    assert "/admin/" in client.get(reverse("agents:list")).content.decode()


# ---- settings ---------------------------------------------------------------------------------------------------


def settings_data(agent, **changes):
    data = {
        "version": agent.version,
        "name": agent.name,
        "description": agent.description,
        "model": "engram/scripted",
        "embedding": agent.embedding_config["handle"],
        "context_window_limit": agent.context_window,
        "temperature": 0.7,
        "system": agent.system,
        "tags": "",
    }
    return {**data, **changes}


def test_settings_save_and_inline_errors(client, agent):
    url = reverse("agents:settings_save", args=[agent.id])
    ok = client.post(
        url, settings_data(agent, name="Renamed", context_window_limit=16000, temperature=0.2, tags="a, b"), **HTMX
    )
    assert ok.status_code == 200 and "Settings saved" in ok.content.decode()
    agent.refresh_from_db()
    assert agent.name == "Renamed" and agent.context_window == 16000 and agent.llm_config["temperature"] == 0.2
    assert sorted(agent.tag_rows.values_list("tag", flat=True)) == ["a", "b"]
    bad = client.post(url, settings_data(agent, temperature=5), **HTMX)
    assert bad.status_code == 400 and "less than or equal to 2" in bad.content.decode()
    stale = client.post(url, settings_data(agent, version=agent.version - 1, name="Lost?"), **HTMX)
    assert stale.status_code == 409 and "Someone else changed" in stale.content.decode()
    agent.refresh_from_db()
    assert agent.name == "Renamed"


# ---- archival memory --------------------------------------------------------------------------------------------


def test_archival_add_search_browse_and_delete(client, agent):
    url = reverse("agents:passage_add", args=[agent.id])
    assert client.post(url, {"text": ""}, **HTMX).status_code == 400
    for text, tags in [
        ("Ada's birthday is on the 10th of December", "dates, ada"),
        ("The office plant needs water on Mondays", "chores"),
    ]:
        assert client.post(url, {"text": text, "tags": tags}, **HTMX).status_code == 200
    added = client.post(url, {"text": "One more fact", "tags": ""}, **HTMX).content.decode()
    assert re.search(r'id="context-window"[^>]*hx-swap-oob="true"', added) and "3 archival" in added
    browse = client.get(reverse("agents:archival", args=[agent.id]), **HTMX).content.decode()
    assert "Passages · 3" in browse and "office plant" in browse and '<span class="tag">ada</span>' in browse
    found = client.get(reverse("agents:archival", args=[agent.id]), {"q": "when was Ada born?"}, **HTMX)
    html = found.content.decode()
    assert html.index("birthday") < html.index("office plant")  # nearest first
    from memory.archival import agent_passages

    passage = agent_passages(agent).get(text__contains="plant")
    gone = client.post(reverse("agents:passage_delete", args=[agent.id, passage.id]), **HTMX)
    assert gone.status_code == 200 and "office plant" not in gone.content.decode()
    assert agent_passages(agent).count() == 2


def test_archival_pages_load_older_passages(client, agent, alice):
    from memory.archival import insert_archival

    for i in range(23):
        insert_archival(agent, f"fact number {i}", actor=Actor.user(alice))
    first = client.get(reverse("agents:archival", args=[agent.id]), **HTMX).content.decode()
    assert "fact number 22" in first and "fact number 2<" not in first and "Load older passages" in first
    after = re.search(r"\?after=(passage-[0-9a-f-]+)", first).group(1)
    more = client.get(reverse("agents:archival", args=[agent.id]), {"after": after}, **HTMX).content.decode()
    assert "fact number 0" in more and "fact number 22" not in more and "Load older" not in more


# ---- tools ------------------------------------------------------------------------------------------------------

ADD_SOURCE = '''def add_numbers(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    print("adding", a, b)
    return a + b
'''


def test_tool_editor_creates_attaches_and_shows_schema(client, agent):
    form = client.get(reverse("agents:tool_new", args=[agent.id]), **HTMX)
    assert form.status_code == 200 and "def roll_dice" in form.content.decode()
    created = client.post(reverse("agents:tool_new", args=[agent.id]), {"source_code": ADD_SOURCE}, **HTMX)
    html = created.content.decode()
    assert created.status_code == 200 and "Created and attached" in html
    schema = json.loads(
        re.search(r'<pre id="tool-schema"[^>]*>(.*?)</pre>', html, re.S).group(1).replace("&quot;", '"')
    )
    assert schema["name"] == "add_numbers" and schema["parameters"]["required"] == ["a", "b"]
    assert agent.tools.filter(name="add_numbers").exists()
    tool = agent.tools.get(name="add_numbers")
    edited = client.post(
        reverse("agents:tool_edit", args=[agent.id, tool.id]),
        {"source_code": ADD_SOURCE.replace("Add two numbers.", "Sum two integers.")},
        **HTMX,
    )
    assert "Sum two integers." in edited.content.decode()
    broken = client.post(reverse("agents:tool_edit", args=[agent.id, tool.id]), {"source_code": "def oops(:"}, **HTMX)
    assert broken.status_code == 400 and "def oops(:" in broken.content.decode()  # error inline, my source kept
    tool.refresh_from_db()
    assert tool.description == "Sum two integers."


def test_tool_run_shows_result_stdout_and_errors(client, agent):
    run = reverse("agents:tool_run", args=[agent.id])
    ok = client.post(run, {"source_code": ADD_SOURCE, "args": '{"a": 2, "b": 3}'}, **HTMX).content.decode()
    assert '<pre id="tool-return">5</pre>' in ok and "adding 2 3" in ok and 'data-status="success"' in ok
    failing = ADD_SOURCE.replace("return a + b", "raise ValueError('no negative numbers')")
    error = client.post(run, {"source_code": failing, "args": '{"a": -1, "b": 3}'}, **HTMX)
    assert error.status_code == 200 and 'data-status="error"' in error.content.decode()
    assert "no negative numbers" in error.content.decode()
    bad_json = client.post(run, {"source_code": ADD_SOURCE, "args": "{a: 1}"}, **HTMX)
    assert bad_json.status_code == 400 and "Arguments must be JSON" in bad_json.content.decode()
    missing = client.post(run, {"source_code": ADD_SOURCE, "args": '{"a": 1}'}, **HTMX)
    assert missing.status_code == 400 and "b" in missing.content.decode()


def test_tools_attach_detach_and_rules(client, agent):
    tool = agent.tools.get(name="archival_memory_search")
    detached = client.post(reverse("agents:tool_detach", args=[agent.id, tool.id]), **HTMX)
    assert detached.status_code == 200 and not agent.tools.filter(id=tool.id).exists()
    attached = client.post(reverse("agents:tool_attach", args=[agent.id]), {"tool_id": tool.id}, **HTMX)
    assert attached.status_code == 200 and agent.tools.filter(id=tool.id).exists()
    rules = reverse("agents:tool_rules", args=[agent.id])
    bad = client.post(rules, {"rules": '[{"type": "no_such_rule", "tool_name": "x"}]'}, **HTMX)
    assert bad.status_code == 400 and "no_such_rule" in bad.content.decode()
    assert client.post(rules, {"rules": "not json"}, **HTMX).status_code == 400
    ok = client.post(rules, {"rules": '[{"type": "requires_approval", "tool_name": "archival_memory_insert"}]'}, **HTMX)
    assert ok.status_code == 200 and "requires_approval" in ok.content.decode()
    agent.refresh_from_db()
    assert (
        agent.tool_rules == [{"type": "requires_approval", "tool_name": "archival_memory_insert"}]
        or agent.tool_rules[0]["type"] == "requires_approval"
    )


# ---- folders ----------------------------------------------------------------------------------------------------


def test_folder_create_upload_and_status(client, agent, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    created = client.post(reverse("agents:folder_create", args=[agent.id]), {"name": "Manuals"}, **HTMX)
    assert created.status_code == 200 and "Manuals" in created.content.decode()
    folder = agent.folders.get(name="Manuals")
    upload = SimpleUploadedFile("guide.md", b"# Guide\n\nPress the red button to start the machine.\n")
    done = client.post(reverse("agents:file_upload", args=[agent.id, folder.id]), {"file": upload}, **HTMX)
    assert done.status_code == 200 and "guide.md" in done.content.decode()
    file = folder.files.get(file_name="guide.md")
    status = client.get(reverse("agents:file_status", args=[agent.id, file.id]), **HTMX).content.decode()
    assert f'data-file-status="{file.processing_status}"' in status
    wrong = client.post(
        reverse("agents:file_upload", args=[agent.id, folder.id]),
        {"file": SimpleUploadedFile("tool.exe", b"MZ")},
        **HTMX,
    ).content.decode()
    assert "Unsupported file type" in wrong
    dupe = client.post(reverse("agents:folder_create", args=[agent.id]), {"name": "Manuals"}, **HTMX)
    assert dupe.status_code == 409 and "already exists" in dupe.content.decode()


# ---- chat (turns run off the request thread, against the scripted model over HTTP) ----------------------------


@pytest.mark.django_db(transaction=True)
def test_send_runs_the_turn_in_the_background_and_the_page_shows_it(scripted_llm, alice):
    from agents import runs
    from agents.models import Run

    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Chatty"))
    client = signed_in(alice)
    response = client.post(reverse("agents:send", args=[agent.id]), {"text": "my name is Ada"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    run = Run.objects.get(agent=agent)
    assert 'hx-swap-oob="beforeend:#chat-inner"' in html and f'id="turn-{run.id}"' in html
    assert "my name is Ada" in html
    run = runs.wait(run.id, timeout=60)
    assert run.status == "completed" and run.stop_reason == "end_turn"
    page = client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    assert "my name is Ada" in page and "memory_replace" in page and ">end_turn<" in page
    assert f"{run.usage['total_tokens']:,} total" in page
    assert "Name: Ada" in human(agent).value
    empty = client.post(reverse("agents:send", args=[agent.id]), {"text": "  "}, **HTMX)
    assert empty.status_code == 400 and "Type a message first" in empty.content.decode()


@pytest.mark.django_db(transaction=True)
def test_approval_is_asked_on_the_page_and_approving_continues(scripted_llm, alice):
    from agents import runs
    from agents.actions import update_agent
    from agents.models import Run

    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Careful"))
    update_agent(alice, agent.id, {"tool_rules": [{"type": "requires_approval", "tool_name": "memory_replace"}]})
    client = signed_in(alice)
    client.post(reverse("agents:send", args=[agent.id]), {"text": "my name is Ada"}, **HTMX)
    first = runs.wait(Run.objects.get(agent=agent).id, timeout=60)
    assert first.stop_reason == "requires_approval"
    page = client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    assert "Approval needed" in page and 'name="approve" value="1"' in page
    blocked = client.post(reverse("agents:send", args=[agent.id]), {"text": "hello?"}, **HTMX)
    assert blocked.status_code == 409 and "waiting for approval" in blocked.content.decode()
    request_id = re.search(r'name="approval_request_id" value="([^"]+)"', page).group(1)
    client.post(reverse("agents:approve", args=[agent.id]), {"approval_request_id": request_id, "approve": "1"}, **HTMX)
    second = runs.wait(Run.objects.exclude(id=first.id).get(agent=agent).id, timeout=60)
    assert second.status == "completed"
    assert "Name: Ada" in human(agent).value


@pytest.mark.django_db(transaction=True)
def test_reset_empties_the_conversation(scripted_llm, alice):
    from agents import runs
    from agents.models import Run

    agent = create_agent(alice, blank_spec("Resettable"))
    client = signed_in(alice)
    client.post(reverse("agents:send", args=[agent.id]), {"text": "hello there"}, **HTMX)
    runs.wait(Run.objects.get(agent=agent).id, timeout=60)
    assert "hello there" in client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    reset = client.post(reverse("agents:reset", args=[agent.id]), **HTMX).content.decode()
    assert "Start a conversation" in reset and "hello there" not in reset
    agent.refresh_from_db()
    assert len(agent.message_ids) == 1


# ---- agent files: import, export, duplicate ---------------------------------------------------------------------


def test_import_export_and_reimport_an_agent_file(client, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from agents.models import Agent

    with open("/work/shared/af-samples/evie.af", "rb") as f:
        sample = f.read()
    imported = client.post(reverse("agents:import"), {"file": SimpleUploadedFile("evie.af", sample)}, **HTMX)
    assert imported.status_code == 200
    agent_id = imported["HX-Redirect"].rstrip("/").split("/")[-1]
    agent = Agent.objects.get(id=agent_id, organization=alice.organization)
    assert client.get(reverse("agents:workspace", args=[agent.id])).status_code == 200
    exported = client.get(reverse("agents:export", args=[agent.id]))
    assert (
        exported["Content-Disposition"].startswith("attachment; filename=") and ".af" in exported["Content-Disposition"]
    )
    document = json.loads(exported.content)
    assert document["agents"][0]["name"] == agent.name
    again = client.post(reverse("agents:import"), {"file": SimpleUploadedFile("again.af", exported.content)}, **HTMX)
    assert again.status_code == 200 and again["HX-Redirect"] != imported["HX-Redirect"]


def test_a_broken_agent_file_is_refused_inline_and_nothing_is_imported(client, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from agents.models import Agent

    for content, message in [
        (b"not json at all", "not JSON"),
        (b'{"agents": []}', "it has no agents"),
        (b'{"agent_type": "memgpt_agent"}', "legacy"),
    ]:
        response = client.post(reverse("agents:import"), {"file": SimpleUploadedFile("bad.af", content)}, **HTMX)
        assert response.status_code == 400 and message in response.content.decode(), message
        assert 'id="import-form"' in response.content.decode()
    assert not Agent.objects.filter(organization=alice.organization).exists()


def test_duplicate_makes_an_independent_copy(client, agent):
    from agents.models import Agent

    response = client.post(reverse("agents:duplicate", args=[agent.id]), **HTMX)
    copy = Agent.objects.get(name="Helper copy")
    assert response["HX-Redirect"] == reverse("agents:workspace", args=[copy.id])
    assert sorted(copy.blocks.values_list("label", flat=True)) == sorted(agent.blocks.values_list("label", flat=True))
    assert not set(copy.blocks.values_list("id", flat=True)) & set(agent.blocks.values_list("id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_turn(scripted_llm, alice):
    from agents import runs
    from agents.models import Run

    scripted_llm.set_pace(200)  # a slow reply, so the turn is still streaming when we cancel
    agent = create_agent(alice, blank_spec("Slow"))
    client = signed_in(alice)
    client.post(reverse("agents:send", args=[agent.id]), {"text": "tell me about your day"}, **HTMX)
    run = Run.objects.get(agent=agent)
    assert client.post(reverse("agents:cancel", args=[agent.id, run.id]), **HTMX).status_code == 200
    run = runs.wait(run.id, timeout=60)
    assert run.status == "cancelled" and run.stop_reason == "cancelled"
    page = client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    assert ">cancelled<" in page
    again = client.post(reverse("agents:cancel", args=[agent.id, run.id]), **HTMX)
    assert again.status_code == 200  # cancelling a finished run is a no-op, as in Letta
    assert Run.objects.get(id=run.id).status == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_denying_a_tool_call_tells_the_agent_why(scripted_llm, alice):
    from agents import runs
    from agents.actions import update_agent
    from agents.models import Message, Run

    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Denied"))
    update_agent(alice, agent.id, {"tool_rules": [{"type": "requires_approval", "tool_name": "memory_replace"}]})
    client = signed_in(alice)
    client.post(reverse("agents:send", args=[agent.id]), {"text": "my name is Ada"}, **HTMX)
    first = runs.wait(Run.objects.get(agent=agent).id, timeout=60)
    page = client.get(reverse("agents:workspace", args=[agent.id])).content.decode()
    request_id = re.search(r'name="approval_request_id" value="([^"]+)"', page).group(1)
    client.post(
        reverse("agents:approve", args=[agent.id]),
        {"approval_request_id": request_id, "approve": "0", "reason": "keep my name private"},
        **HTMX,
    )
    runs.wait(Run.objects.exclude(id=first.id).get(agent=agent).id, timeout=60)
    assert "Ada" not in human(agent).value
    [response] = [m for m in Message.objects.filter(agent=agent, role="approval") if not m.tool_calls]
    assert response.approve is False and response.denial_reason == "keep my name private"
    assert "Denied: keep my name private" in client.get(reverse("agents:workspace", args=[agent.id])).content.decode()


def test_workspace_queries_do_not_grow_with_blocks_or_turns(client, agent, alice, scripted_llm):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agents import runs
    from agents.actions import attach_block
    from memory.actions import create_block

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("agents:workspace", args=[agent.id])).status_code == 200
        return len(ctx.captured_queries)

    def turn(text):
        run = runs.start_turn(alice, agent.id, [{"role": "user", "content": text}])
        runs.execute(run.id)

    turn("hello")
    before = queries()
    assert before < 30, before
    for label in ("notes", "plans", "facts"):
        block = create_block(agent.organization, label=label, value=label, actor=Actor.user(alice))
        attach_block(alice, agent.id, block.id)
    turn("my name is Ada")
    turn("I like chess")
    agent.refresh_from_db()
    assert queries() == before, before


def test_block_forms_work_without_javascript(client, agent, bob):
    block = human(agent)
    seen = block.version
    plain = client.post(
        reverse("agents:block_save", args=[agent.id, block.id]),
        {"version": seen, "value": "Name: Ada", "read_only_present": "1"},
    )
    assert plain.status_code == 200 and "<html" in plain.content.decode() and "Saved · v2" in plain.content.decode()
    assert ">Name: Ada</textarea>" in plain.content.decode()
    update_block(agent.organization, block.id, {"value": "Name: Bob"}, actor=Actor.user(bob))
    stale = client.post(
        reverse("agents:block_save", args=[agent.id, block.id]),
        {"version": seen + 1, "value": "Name: Ada Lovelace", "read_only_present": "1"},
    )
    html = stale.content.decode()
    assert stale.status_code == 409 and "<html" in html and ">Name: Ada Lovelace</textarea>" in html
    assert "Bob saved version 3" in html
    memory = client.get(reverse("agents:memory", args=[agent.id])).content.decode()
    assert re.search(r'class="counter" id="counter-[^"]+" aria-live="polite">9 / 5,000<', memory)
