"""Core memory, approvals and the agent's page (#15 broken 2, 4, 5, 6; confusing 11, 12), each reproduced in a
browser: a label beside read-only and shared badges stays readable; a duplicate label's 409 is shown; "Saved" stays
after the live push of the same version; a lowered limit's error shows the limit field; Approve/Deny do not come back
after approving and the later tool return is named; a rename reaches the tab title and the composer; a page whose
agent was deleted in another tab stops taking edits."""

import pytest
from playwright.sync_api import expect

from agents.actions import attach_block, create_agent, update_agent
from agents.pages.templates_catalog import BY_KEY, blank_spec
from memory.actions import Actor, create_block
from tests.e2e.test_ade import TIMEOUT, block_editor, open_workspace, send, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COUNT_PUSHES = """id => { window.__pushesFor = 0;
    document.addEventListener('htmx:wsAfterMessage', e => { if (String(e.detail.message).includes(id)) window.__pushesFor++; }); }"""


def test_blocks_badges_duplicate_label_saved_and_limit(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Helper"))
    other = create_agent(alice, blank_spec("Other"))
    label = "about_me_and_everything_i_care_about"
    shared = create_block(alice.organization, label=label, value="I like tea.", read_only=True, actor=Actor.user(alice))
    attach_block(alice, agent.id, shared.id)
    attach_block(alice, other.id, shared.id)
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)

    # 2: the label keeps room beside both badges, says itself in a tooltip, and Detach stays inside the card
    editor = page.locator(f"#{shared.id}")
    head = editor.locator(".block-label")
    expect(head).to_have_attribute("title", label)
    assert head.bounding_box()["width"] >= 60
    detach = editor.get_by_role("button", name="Detach").bounding_box()
    box = editor.bounding_box()
    assert detach["x"] + detach["width"] <= box["x"] + box["width"]

    # 4: a label that already exists: the error is shown in an open section
    page.click("a[href='#new-block']")
    page.fill("#nb-label", "human")
    page.locator("#new-block").get_by_role("button", name="Create and attach").click()
    expect(page.locator("#new-block .notice-error")).to_be_visible()
    expect(page.locator("#new-block .notice-error")).to_contain_text("human")

    # 6: "Saved" survives the live push of the version just saved
    human = block_editor(page, "human")
    block_id = human.get_attribute("id")
    page.evaluate(COUNT_PUSHES, block_id)
    human.locator("textarea[name=value]").fill("Name: Ada")
    human.get_by_role("button", name="Save").click()
    page.wait_for_function("window.__pushesFor >= 1", timeout=TIMEOUT)
    expect(page.locator(f"#{block_id} [data-saved-note]")).to_be_visible()
    expect(page.locator(f"#{block_id} [data-saved-note]")).to_contain_text("Saved")

    # 11: a limit below the value's length: the error shows with the limit field in view
    human = page.locator(f"#{block_id}")
    human.locator("summary", has_text="Label, description and limit").click()
    human.locator("input[name=limit]").fill("3")
    human.get_by_role("button", name="Save").click()
    expect(page.locator(f"#{block_id} .field-error")).to_contain_text("limit")
    expect(page.locator(f"#{block_id} input[name=limit]")).to_be_visible()
    expect(page.locator(f"#{block_id} input[name=limit]")).to_have_value("3")


def test_approval_answered_once_and_tool_return_named(browser, live_server_url, scripted_llm, alice):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Careful"))
    update_agent(alice, agent.id, {"tool_rules": [{"type": "requires_approval", "tool_name": "memory_replace"}]})
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    args = {"label": "human", "old_string": "Name: not known yet", "new_string": "Name: Ada"}
    scripted_llm.queue_tool_call("memory_replace", args)
    send(page, "my name is Ada")
    form = page.locator(".approval-form")
    expect(form).to_be_visible(timeout=TIMEOUT)
    scripted_llm.queue_text("Noted, Ada.")
    form.get_by_role("button", name="Approve").click()
    expect(page.locator(".approval-sent")).to_contain_text("Approved")
    expect(page.locator(".approval-form")).to_have_count(0)
    expect(page.locator("#chat-inner")).to_contain_text("Noted, Ada.", timeout=TIMEOUT)
    ret = page.locator(".step-tool-return summary code", has_text="memory_replace")
    expect(ret).to_have_count(1)
    page.reload()  # drawn from the database: still named, still no buttons
    page.wait_for_selector("#ws-status.live")
    expect(page.locator(".step-tool-return summary code", has_text="memory_replace")).to_have_count(1)
    expect(page.locator(".approval-form")).to_have_count(0)


def test_rename_reaches_title_and_composer_and_a_deleted_agent_locks_other_tabs(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, blank_spec("Before"))
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)
    other = page.context.new_page()
    open_workspace(other, base, agent.id)

    other.fill("#settings-form input[name=name]", "After")
    other.locator("#settings-form").get_by_role("button", name="Save settings").click()
    expect(page.locator("#agent-title")).to_have_text("After")
    expect(page).to_have_title("After · Engram ADE")
    expect(page.locator("#composer-text")).to_have_attribute("placeholder", "Message After…")

    other.locator(".topbar").get_by_text("Delete", exact=True).click()
    other.get_by_role("button", name="Delete agent").click()
    expect(page.locator("#agent-gone")).to_be_visible()
    expect(page.locator("#composer-text")).to_be_disabled()
    expect(page.locator(".block-editor textarea[name=value]").first).to_be_disabled()
    expect(page.locator("#settings-form button[type=submit]")).to_be_disabled()
