"""The chat panel's conversation switcher in a browser: a new conversation has its own chat and context window,
fork from a message, rename, delete; the agent's own (default) conversation is untouched."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from agents.models import Conversation
from agents.pages.templates_catalog import blank_spec
from tests.e2e.test_ade import TIMEOUT, open_workspace, send, sign_in, wait_for_turns

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_conversation_switcher_new_fork_rename_delete(browser, live_server_url, alice, scripted_llm):
    base = live_server_url
    agent = create_agent(alice, blank_spec("Threads"))
    page = sign_in(browser, base, alice)
    open_workspace(page, base, agent.id)

    page.click("#conv-new")  # a new conversation: its own, empty chat
    page.wait_for_url(f"{base}/agents/{agent.id}/?conversation=conv-*")
    page.wait_for_selector("#ws-status.live")
    conv = Conversation.objects.get(agent=agent)
    default_tab = page.context.new_page()  # a second tab on the agent's own conversation
    open_workspace(default_tab, base, agent.id)
    scripted_llm.queue_text("Rome is lovely in May.")
    send(page, "Plan a trip to Rome")
    wait_for_turns(page, 1)
    expect(page.locator("#chat-inner")).to_contain_text("Rome is lovely in May.")
    scripted_llm.queue_text("Hello from the default one.")
    send(default_tab, "Hi")
    wait_for_turns(default_tab, 1)  # pushes arrive in order: the other conversation's turn came first, unshown
    expect(default_tab.locator("#chat-inner")).to_contain_text("Hello from the default one.")
    expect(default_tab.locator("#chat-inner")).not_to_contain_text("Rome")
    expect(default_tab.locator("#chat-inner .turn")).to_have_count(1)
    expect(page.locator("#chat-inner")).not_to_contain_text("Hello from the default one.")
    default_tab.close()
    page.goto(f"{base}/agents/{agent.id}/?conversation={conv.id}")  # the context viewer shows this window
    expect(page.locator("#chat-inner")).to_contain_text("Plan a trip to Rome")
    conv.refresh_from_db()
    assert len(conv.message_ids) == 3

    page.fill("#conv-name", "Rome trip")  # rename
    page.locator("#conv-rename").get_by_role("button", name="Rename").click()
    page.wait_for_selector("#ws-status.live")
    expect(page.locator("#conv-select option:checked")).to_have_text("Rome trip")

    user_bubble = page.locator(".msg-user", has_text="Plan a trip to Rome")  # fork from the user's message
    user_bubble.get_by_role("button", name="Fork").click()
    page.wait_for_function(f"!location.search.includes('{conv.id}')", timeout=TIMEOUT)
    page.wait_for_selector("#ws-status.live")
    fork = Conversation.objects.exclude(id=conv.id).get(agent=agent)
    assert fork.message_ids == conv.message_ids[:2]  # the system message and the user's message
    expect(page.locator("#chat-inner")).to_contain_text("Plan a trip to Rome")
    expect(page.locator("#chat-inner")).not_to_contain_text("Rome is lovely in May.")
    scripted_llm.queue_text("Then Paris.")
    send(page, "Or Paris?")
    wait_for_turns(page, 1)
    expect(page.locator("#chat-inner")).to_contain_text("Then Paris.")
    conv.refresh_from_db()
    assert len(conv.message_ids) == 3  # the source conversation goes on unchanged

    page.goto(f"{base}/agents/{agent.id}/")  # the default conversation: the agent's own list
    page.wait_for_selector("#ws-status.live")
    expect(page.locator("#chat-inner")).to_contain_text("Hello from the default one.")
    expect(page.locator("#chat-inner")).not_to_contain_text("Rome")
    page.select_option("#conv-select", conv.id)
    page.locator("#conv-switch").get_by_role("button", name="Open").click()
    expect(page.locator("#chat-inner")).to_contain_text("Rome is lovely in May.")

    page.once("dialog", lambda dialog: dialog.accept())  # delete
    page.click("#conv-delete")
    page.wait_for_url(f"{base}/agents/{agent.id}/")
    conv.refresh_from_db()
    assert conv.deleted
    expect(page.locator("#conv-select option")).to_have_count(2)  # Default and the fork
