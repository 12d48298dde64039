"""The ADE on a phone (#15 broken 8): at 390×844 the workspace shows tabs Chat / Memory / Context / Settings with
the chat first, and no page scrolls horizontally (measured with scrollWidth). Screenshots of the workspace at
1440×900 and 390×844 go to artifacts/screenshots/."""

import pytest
from playwright.sync_api import expect

from agents.actions import create_agent
from agents.pages.templates_catalog import BY_KEY
from tests.e2e.test_ade import PASSWORD, TIMEOUT, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
# the outermost elements that reach past the screen's right edge, to say what to fix
CULPRITS = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
    && !(e.parentElement && e.parentElement.getBoundingClientRect().right > 391)).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""
PAGES = [
    "/",
    "/agents/new/",
    "/agents/import/",
    "/agents/{id}/",
    "/agents/{id}/memory/",
    "/agents/{id}/archival/",
    "/agents/{id}/settings/",
    "/agents/{id}/tools/",
    "/agents/{id}/tools/new/",
    "/agents/{id}/folders/",
    "/account/api-keys/",
    "/account/password/",
    "/members/",
    "/audit/",
    "/mcp-servers/",
]


def phone(browser, base, user):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def test_phone_workspace_has_tabs_chat_first_and_no_page_scrolls_sideways(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("A rather long agent name for a small phone"))
    page = phone(browser, base, alice)
    wide = {}
    for path in PAGES:
        page.goto(base + path.format(id=agent.id))
        page.wait_for_load_state("load")
        width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        if width > PHONE["width"]:
            wide[path] = (width, page.evaluate(CULPRITS))
    assert wide == {}, f"pages wider than {PHONE['width']} px: {wide}"

    page.goto(f"{base}/agents/{agent.id}/")
    page.wait_for_selector("#ws-status.live")
    tabs = page.locator(".mobile-tabs [role=tab]")
    expect(tabs).to_have_text(["Chat", "Memory", "Context", "Settings"])
    composer = page.locator("#composer-text")
    expect(composer).to_be_visible()
    assert composer.bounding_box()["y"] + composer.bounding_box()["height"] <= PHONE["height"]  # chat first, in view
    expect(page.locator("#agent-title")).to_be_visible()  # the breadcrumb keeps the agent's name
    expect(page.locator("#left-panel")).to_be_hidden()
    shot(page, "workspace-390x844")

    tabs.get_by_text("Memory").click()
    expect(page.locator("#memory-blocks")).to_be_visible()
    expect(page.locator("#context-window")).to_be_hidden()
    expect(composer).to_be_hidden()
    tabs.get_by_text("Context").click()
    expect(page.locator("#context-window")).to_be_visible()
    expect(page.locator("#memory-blocks")).to_be_hidden()
    tabs.get_by_text("Settings").click()
    expect(page.locator("#left-panel")).to_be_visible()
    tabs.get_by_text("Chat").click()
    expect(composer).to_be_visible()
    page.context.close()


def test_desktop_workspace_screenshot_shows_three_panels(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("Helper"))
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("#id_username", alice.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/agents/{agent.id}/")
    page.wait_for_selector("#ws-status.live")
    expect(page.locator(".mobile-tabs")).to_be_hidden()
    for panel in ("#left-panel", "#chat-panel", "#right-panel"):
        expect(page.locator(panel)).to_be_visible()
    shot(page, "workspace-1440x900")
    context.close()
