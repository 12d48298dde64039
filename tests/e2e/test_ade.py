"""The ADE in a real browser against a live daphne server (HTTP + websockets), with the scripted model over HTTP.

Each test signs in through the login page. Screenshots of every main screen go to artifacts/screenshots/."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from agents.actions import create_agent
from agents.pages.templates_catalog import BY_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery"
SHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
SAMPLE = Path("/work/shared/af-samples/loop.af")
TIMEOUT = 60_000
expect.set_options(timeout=20_000)  # the machine is shared: give pushes time under load (they pass in ms when idle)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(browser, base: str, user):
    # Playwright evaluates wait_for_function predicates with eval, which the pages' CSP forbids; the pages themselves
    # are checked under the real policy in tests/e2e/test_sec_csp.py.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True, bypass_csp=True)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def open_workspace(page, base: str, agent_id: str) -> None:
    page.goto(f"{base}/agents/{agent_id}/")
    page.wait_for_selector("#ws-status.live")


def set_code(page, text: str, editor: str = "tool-source") -> None:
    """Replace the text of a code editor (CodeMirror hides its textarea; this types through its API)."""
    page.wait_for_selector(f'.CodeMirror[data-editor-for="{editor}"]')
    page.evaluate("([id, text]) => document.getElementById(id)._cm.setValue(text)", [editor, text])


def block_editor(page, label: str):
    return page.locator(".block-editor", has=page.locator(".block-label", has_text=re.compile(f"^{label}$")))


def core_memory_tokens(page) -> int:
    return int(page.text_content("[data-tokens=core_memory]").replace(",", ""))


def choose_file(page, selector: str, path) -> None:
    """Pick a file. A live push may redraw the region at the very moment Playwright sets the file (a person's
    file dialog takes far longer; once chosen, the page keeps the form through pushes): then pick again."""
    for _attempt in range(3):
        page.set_input_files(selector, str(path))
        if page.eval_on_selector(selector, "input => input.files.length") == 1:
            return
    raise AssertionError(f"could not choose {path} in {selector}")


def send(page, text: str) -> None:
    page.fill("#composer-text", text)
    page.keyboard.press("Enter")


def wait_for_turns(page, count: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('#chat-inner .turn-footer .badge').length >= {count}", timeout=TIMEOUT
    )


WATCH_REPLY = """() => {
    window.__replyLengths = [];
    new MutationObserver(() => {
        const bubble = document.querySelector('#chat-inner .msg-assistant .bubble');
        const n = bubble ? bubble.textContent.length : 0;
        const seen = window.__replyLengths;
        if (n && seen[seen.length - 1] !== n) seen.push(n);
    }).observe(document.getElementById('chat-inner'), {subtree: true, childList: true, characterData: true});
}"""


def test_template_agent_streams_a_reply_and_updates_memory_live(browser, live_server_url, scripted_llm, alice):
    base = live_server_url
    scripted_llm.set_pace(40)  # the simulator streams word by word, 40 ms apart
    page = sign_in(browser, base, alice)
    expect(page.locator("#agent-results")).to_contain_text("No agents yet")
    shot(page, "01-agents-empty")
    page.locator(".page-head").get_by_text("New agent").click()
    page.wait_for_selector("dialog[open] #new-agent-name")
    page.fill("#new-agent-name", "Ada's assistant")
    page.click("label.template-option:has(input[value=personal_assistant])")
    shot(page, "02-new-agent-dialog")
    page.click("#create-agent-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/agents/agent-[0-9a-f-]+/$"))
    page.wait_for_selector("#ws-status.live")
    expect(block_editor(page, "human").locator("textarea[name=value]")).not_to_have_value(re.compile("Ada"))
    before = core_memory_tokens(page)
    page.evaluate("window.__sameDocument = true")
    page.evaluate(WATCH_REPLY)

    send(page, "my name is Ada")
    wait_for_turns(page, 1)
    expect(page.locator("#chat-inner .turn-footer .badge").first).to_have_text("end_turn")
    lengths = page.evaluate("window.__replyLengths")
    assert len(lengths) >= 3 and lengths == sorted(lengths), lengths  # the reply grew in pieces
    expect(page.locator("#chat-inner .msg-assistant .bubble").first).to_contain_text("Ada")
    expect(block_editor(page, "human").locator("textarea[name=value]")).to_have_value(re.compile("Name: Ada"))
    page.wait_for_function(
        f"Number(document.querySelector('[data-tokens=core_memory]').textContent.replace(/,/g, '')) !== {before}"
    )
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    expect(page.locator("#chat-inner .step-tool-call")).to_contain_text("memory_replace")
    shot(page, "03-workspace-after-turn")

    block_editor(page, "human").get_by_text("History").click()
    expect(page.locator("dialog[open] #block-history")).to_contain_text("agent · memory_replace")
    shot(page, "04-block-history")
    page.locator("dialog[open] [data-close]").first.click()

    page.click("#ctx-details > summary")
    page.click("#ctx-core_memory > summary")
    expect(page.locator("#ctx-core_memory pre")).to_contain_text("Name: Ada")
    shot(page, "05-context-window")

    page.set_viewport_size({"width": 1280, "height": 720})  # a laptop screen
    shot(page, "05b-workspace-laptop")
    page.set_viewport_size({"width": 1024, "height": 700})
    shot(page, "05c-workspace-small-laptop")


def test_two_people_edit_memory_together_and_a_stale_save_loses_nothing(
    browser, live_server_url, scripted_llm, alice, bob
):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["customer_support"].spec("Shared support"))
    alice_page, bob_page = sign_in(browser, base, alice), sign_in(browser, base, bob)
    open_workspace(alice_page, base, agent.id)
    open_workspace(bob_page, base, agent.id)

    persona = block_editor(alice_page, "persona")
    persona.locator("textarea[name=value]").fill("I am Sam. I answer in two sentences at most.")
    persona.get_by_role("button", name="Save", exact=True).click()
    expect(persona).to_contain_text("v2")
    expect(block_editor(bob_page, "persona").locator("textarea[name=value]")).to_have_value(
        "I am Sam. I answer in two sentences at most."
    )  # pushed to bob, no reload

    bob_human = block_editor(bob_page, "human")
    bob_text = "Customer name: Grace\nPlan: Pro\nOpen issue: login loop\nMood: calm"
    bob_human.locator("textarea[name=value]").fill(bob_text)  # bob is typing...
    alice_human = block_editor(alice_page, "human")
    alice_text = "Customer name: Grace Hopper\nPlan: unknown\nOpen issue: none yet\nMood: unknown"
    alice_human.locator("textarea[name=value]").fill(alice_text)
    alice_human.get_by_role("button", name="Save", exact=True).click()  # ...while alice saves first
    expect(alice_human).to_contain_text("v2")
    expect(bob_human.locator(".remote-note")).to_contain_text("saved version 2 while you were editing")
    expect(bob_human.locator("textarea[name=value]")).to_have_value(bob_text)  # the push did not overwrite bob's typing
    bob_human.get_by_role("button", name="Save", exact=True).click()
    expect(bob_human.locator(".conflict")).to_contain_text("Alice saved version 2")
    expect(bob_human.locator("[data-theirs]")).to_have_text(alice_text)
    expect(bob_human.locator("textarea[name=value]")).to_have_value(bob_text)
    shot(bob_page, "06-memory-conflict")

    bob_human.get_by_role("button", name="Merge both").click()
    expect(bob_human.locator("textarea[name=value]")).to_have_value(re.compile("<<<<<<< yours"))
    merged = bob_human.locator("textarea[name=value]").input_value()
    assert "Customer name: Grace Hopper" in merged and "Customer name: Grace\n" in merged
    bob_human.locator("textarea[name=value]").fill(
        "Customer name: Grace Hopper\nPlan: Pro\nOpen issue: login loop\nMood: calm"
    )
    bob_human.get_by_role("button", name="Save merged text").click()
    expect(bob_human).to_contain_text("v3")
    expect(block_editor(alice_page, "human").locator("textarea[name=value]")).to_have_value(re.compile("Plan: Pro"))
    human = agent.blocks.get(label="human")
    assert human.value == "Customer name: Grace Hopper\nPlan: Pro\nOpen issue: login loop\nMood: calm"
    assert [h.new.get("value") for h in human.history.order_by("version")][1:] == [alice_text, human.value]

    send(alice_page, "hello from alice")  # a turn started by alice appears for bob as it happens
    wait_for_turns(bob_page, 1)
    expect(bob_page.locator("#chat-inner .msg-user .bubble")).to_have_text("hello from alice")
    expect(bob_page.locator("#chat-inner .msg-assistant .bubble")).not_to_be_empty()


def test_import_an_agent_file_chat_export_and_reimport(browser, live_server_url, alice, tmp_path):
    base = live_server_url
    page = sign_in(browser, base, alice)
    page.locator(".page-head").get_by_text("Import .af").click()
    bad = tmp_path / "broken.af"
    bad.write_text('{"agents": [{"id": "agent-0", "name": "x"}], "tools": "oops"}')
    page.set_input_files("#af-file", str(bad))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-form .field-error")).to_contain_text("Invalid agent file")
    shot(page, "07-import-error")

    page.set_input_files("#af-file", str(SAMPLE))
    page.select_option("#af-model", "engram/scripted")
    page.select_option("#af-embedding", "local/all-minilm-l6-v2")
    page.click("#import-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/agents/agent-[0-9a-f-]+/$"))
    page.wait_for_selector("#ws-status.live")
    name = json.loads(SAMPLE.read_text())["agents"][0]["name"]
    expect(page.locator("#agent-title")).to_contain_text(name)
    turns_before = page.locator("#chat-inner .turn-footer .badge").count()
    send(page, "hello, who are you?")
    wait_for_turns(page, turns_before + 1)
    expect(page.locator("#chat-inner .turn").last).to_contain_text("hello, who are you?")
    shot(page, "08-imported-agent")

    with page.expect_download() as download:
        page.locator(".topbar").get_by_text("Export .af").click()
    exported = tmp_path / "exported.af"
    download.value.save_as(exported)
    document = json.loads(exported.read_text())
    assert document["agents"][0]["name"].startswith(name)
    assert any("hello, who are you?" in json.dumps(m) for m in document["agents"][0]["messages"])
    first_url = page.url
    page.goto(f"{base}/agents/import/")
    page.set_input_files("#af-file", str(exported))
    page.click("#import-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/agents/agent-[0-9a-f-]+/$"))
    assert page.url != first_url
    expect(page.locator("#chat-inner")).to_contain_text("hello, who are you?")


ADD = '''def add_numbers(a: int, b: int) -> int:
    """Add two whole numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    print(f"adding {a} and {b}")
    return a + b
'''


def test_edit_a_tool_run_it_and_see_output_and_errors(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["coding_assistant"].spec("Tool maker"))
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    page.locator("#left-panel .tabs").get_by_text("Tools").click()
    expect(page.locator("#tools-attached")).to_contain_text("archival_memory_search")
    page.get_by_text("+ New tool").click()
    page.wait_for_selector("dialog[open] #tool-source", state="attached")  # CodeMirror hides the textarea
    set_code(page, ADD)
    page.get_by_role("button", name="Create and attach").click()
    expect(page.locator("#tool-schema")).to_contain_text('"add_numbers"')
    set_code(page, ADD.replace("Add two whole numbers.", "Sum two integers."))
    page.get_by_role("button", name="Save tool").click()
    expect(page.locator("#tool-schema")).to_contain_text("Sum two integers.")
    page.fill("#tool-args", '{"a": 20, "b": 22}')
    page.get_by_role("button", name="▶ Run").click()
    expect(page.locator("#tool-return")).to_have_text("42")
    expect(page.locator("#tool-stdout")).to_contain_text("adding 20 and 22")
    shot(page, "09-tool-editor-run")

    set_code(page, ADD.replace("return a + b", "raise ValueError('numbers must be small')"))
    page.get_by_role("button", name="▶ Run").click()
    expect(page.locator("#tool-result [data-status]")).to_have_text("error")
    expect(page.locator("#tool-result")).to_contain_text("numbers must be small")
    page.fill("#tool-args", "{not json")
    page.get_by_role("button", name="▶ Run").click()
    expect(page.locator("#tool-result .notice-error")).to_contain_text("Arguments must be JSON")
    shot(page, "10-tool-error")
    page.locator("dialog[open] [data-close]").first.click()
    page.locator("#left-panel .tabs").get_by_text("Tools").click()
    expect(page.locator("#tools-attached")).to_contain_text("add_numbers")
    shot(page, "11-tools-panel")


def test_archival_folders_settings_and_keys_screens(browser, live_server_url, scripted_llm, alice, tmp_path):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["research_analyst"].spec("Researcher"))
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    shot(page, "12-settings-panel")

    page.locator("#right-panel .tabs").get_by_text("Archival").click()
    expect(page.locator("#archival")).to_contain_text("Archival memory is empty")
    page.click("#add-passage > summary")
    page.fill("#passage-text", "The launch is planned for the 3rd of March.")
    page.fill("#passage-tags", "plans, launch")
    page.get_by_role("button", name="Add passage").click()
    expect(page.locator("#passage-list")).to_contain_text("3rd of March")
    page.fill("#archival-q", "when do we launch?")
    page.keyboard.press("Enter")
    expect(page.locator("#archival")).to_contain_text("Nearest to")
    expect(page.locator("#passage-list .tag").first).to_have_text("launch")
    shot(page, "13-archival")

    page.locator("#left-panel .tabs").get_by_text("Folders").click()
    page.click("text=New folder")
    page.fill("#folder-name", "Notes")
    with page.expect_response(lambda r: r.url.endswith("/folders/new/")):  # the panel is re-drawn by it
        page.get_by_role("button", name="Create and attach").click()
    notes = tmp_path / "notes.md"
    notes.write_text("# Launch notes\n\nThe launch needs a press release and a demo video.\n")
    choose_file(page, "#left-panel input[type=file]", notes)
    page.locator("#left-panel .upload-form").get_by_role("button", name="Upload").click()
    expect(page.locator("#left-panel [data-file-status]")).to_have_text("completed", timeout=TIMEOUT)
    shot(page, "14-folders")

    page.goto(f"{base}/account/api-keys/")
    page.fill("#key-name", "laptop")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-value")).to_contain_text("sk-engram-")
    shot(page, "15-api-keys")
    page.goto(f"{base}/")
    expect(page.locator("#agent-results")).to_contain_text("Researcher")
    shot(page, "16-agents-list")


def test_another_organization_gets_404(browser, live_server_url, alice, mallory):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Private"))
    page = sign_in(browser, base, mallory)
    response = page.goto(f"{base}/agents/{agent.id}/")
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("Not found")
    assert "Private" not in page.content()
    shot(page, "17-not-found")
    page.context.clear_cookies()
    page.goto(f"{base}/login/")
    shot(page, "00-login")
