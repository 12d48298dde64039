"""Model providers in the ADE, in a real browser: an admin tests a key and adds an OpenAI-compatible provider on the
Model providers page, sees its models and the operator's read-only ones, picks one of its models in an agent's
settings and gets an answer from it; the key is never shown again."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from tests.e2e.test_ade import open_workspace, send, shot, sign_in, wait_for_turns
from tests.servers.keyed_provider import REPLY, KeyedProvider

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
KEY = "sk-acme-browser-key-0123456789"


@pytest.fixture
def remote():
    server = KeyedProvider(KEY)
    yield server
    server.stop()


def test_add_a_provider_pick_its_model_and_chat_with_it(browser, live_server_url, scripted_llm, alice, remote):
    base = live_server_url
    agent = create_agent(alice, {"name": "Byok", "model": "engram/scripted"})
    page = sign_in(browser, base, alice)

    page.goto(f"{base}/providers/")
    expect(page.locator("#operator-providers")).to_contain_text("engram/scripted")
    expect(page.locator("#operator-providers")).to_contain_text("set by the operator")
    page.fill("#provider-name", "acme-llm")
    page.select_option("#provider-type", "openai")
    page.fill("#provider-url", remote.url)
    page.fill("#provider-key", "sk-wrong")
    page.get_by_role("button", name="Test key").click()
    expect(page.locator("#provider-error")).to_contain_text("refused the key (HTTP 401)")
    page.fill("#provider-key", KEY)
    page.get_by_role("button", name="Test key").click()
    expect(page.locator("#provider-probe")).to_contain_text("The key works: 2 models")
    page.fill("#provider-key", KEY)  # a password field is never sent back filled
    page.get_by_role("button", name="Add provider").click()
    expect(page.locator("#provider-added")).to_contain_text("Added acme-llm with 2 models")
    expect(page.locator("#providers")).to_contain_text("****" + KEY[-4:])
    assert KEY not in page.content()
    shot(page, "40-model-providers")

    open_workspace(page, base, agent.id)
    page.select_option("#settings-form select[name=model]", "acme-llm/fast-1")
    page.locator("#settings-form").get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-form")).to_contain_text("Settings saved.")
    send(page, "Who answers?")
    wait_for_turns(page, 1)
    expect(page.locator("#chat-inner")).to_contain_text(REPLY)
    chats = [s for s in remote.seen if s["path"].endswith("/chat/completions")]
    assert chats and {s["headers"]["Authorization"] for s in chats} == {f"Bearer {KEY}"}
