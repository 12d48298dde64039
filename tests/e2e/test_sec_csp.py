"""The ADE under its real Content-Security-Policy (the other browser tests bypass it for Playwright's own eval):
sign in, open an agent, the websocket goes live, a message gets its reply pushed, a link opens its dialog, and the
browser reports no policy violation."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from tests.e2e.test_ade import PASSWORD, send

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_workspace_works_under_the_content_security_policy(browser, live_server_url, scripted_llm, alice):
    agent = create_agent(alice, {"name": "csp", "memory_blocks": [{"label": "human", "value": "Name: ?"}]})
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.goto(f"{live_server_url}/login/")
    page.fill("#id_username", alice.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server_url}/")
    response = page.goto(f"{live_server_url}/agents/{agent.id}/")
    assert "script-src 'self' 'nonce-" in response.headers["content-security-policy"]
    expect(page.locator("#ws-status.live")).to_have_count(1)  # htmx, its ws extension and the socket all ran
    scripted_llm.queue_text("Hello from under the policy.")
    send(page, "hi")
    expect(page.locator("#chat-inner .msg-assistant .bubble").first).to_contain_text("under the policy")
    page.click("a[href='#new-block']")
    expect(page.locator("#new-block")).to_have_attribute("open", "")
    assert violations == []
    context.close()
