"""The ADE on a phone (#15 broken 8): at 390×844 the workspace shows tabs Chat / Memory / Context / Settings with
the chat first, and no page scrolls horizontally (measured with scrollWidth). Screenshots of the workspace at
1440×900 and 390×844 go to artifacts/screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from agents.actions import attach_folder, create_agent
from agents.pages.templates_catalog import BY_KEY
from tests.e2e.test_ade import PASSWORD, TIMEOUT, send, shot, wait_for_turns

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
# the outermost elements that reach past the screen's right edge, to say what to fix
CULPRITS = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391
    && !(e.parentElement && e.parentElement.getBoundingClientRect().right > 391)).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""
SKIPPED = re.compile(r"^(admin/|v1/|logout/|orgs/switch/|static/)")


def page_paths(ids: dict) -> list[str]:
    """Every GET page of the site, found in the URL configuration (so pages added later are measured too), with
    its parameters filled from `ids` (a route needing one we do not have is left out and listed)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    paths, unfilled = [], []

    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and not SKIPPED.match(route) and not route.startswith("^"):
                names = re.findall(r"<(?:\w+:)?(\w+)>", route)
                if all(n in ids for n in names):
                    paths.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ids[m.group(1)], route))
                else:
                    unfilled.append(route)

    walk(get_resolver().url_patterns, "")
    print(f"{len(paths)} pages measured; routes without sample ids: {unfilled}")
    return sorted(set(paths))


def sample_ids(alice, agent) -> dict:
    """One of everything a page's URL can name."""
    from django.apps import apps
    from django.db import transaction

    from agents.conversations import create_conversation
    from agents.models import Run
    from memory.archival import default_archive
    from memory.folders import create_folder, embedding_config_for
    from memory.ingest import upload_file
    from memory.models import Passage

    folder = create_folder(alice, name="Phone", embedding_config=embedding_config_for("engram/scripted-embed"))
    attach_folder(alice, agent.id, folder.id)
    file = upload_file(alice.organization, folder, name="notes.txt", data=b"A short note.", created_by=alice)
    run = Run.objects.create(organization_id=agent.organization_id, agent=agent, status="completed")
    ids = {}
    if apps.is_installed("evals"):  # the Evals page of a finished evaluation
        from evals.models import EvalRun

        ids["eval_id"] = EvalRun.objects.create(
            organization_id=agent.organization_id,
            created_by=alice,
            suite="core-memory-read",
            samples=1,
            status="completed",
        ).id
    with transaction.atomic():
        archive = default_archive(agent)
    passage = Passage.objects.create(organization_id=agent.organization_id, archive=archive, text="Likes tea.")
    return {
        **ids,
        "passage_id": passage.id,
        "archive_id": archive.id,
        "agent_id": agent.id,
        "block_id": agent.ordered_blocks()[0].id,
        "tool_id": agent.tools.order_by("name").first().id,
        "folder_id": folder.id,
        "file_id": file.id,
        "run_id": run.id,
        "conversation_id": create_conversation(alice, agent.id).id,
    }


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


def test_phone_workspace_has_tabs_chat_first_and_no_page_scrolls_sideways(
    browser, live_server_url, scripted_llm, alice
):
    base = live_server_url
    agent = create_agent(alice, BY_KEY["personal_assistant"].spec("A rather long agent name for a small phone"))
    page = phone(browser, base, alice)
    wide, measured, fragments = {}, [], []
    for path in page_paths(sample_ids(alice, agent)):
        answer = page.request.get(base + path, max_redirects=0)
        if not answer.ok or "html" not in answer.headers.get("content-type", ""):
            continue  # a POST-only route (405), a download (export), a redirect elsewhere is measured there
        if "<html" not in answer.text()[:500].lower():
            fragments.append(path)  # a piece of a page that htmx fetches (no document of its own): not a page
            continue
        page.goto(base + path)
        page.wait_for_load_state("load")
        measured.append(path)
        width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        if width > PHONE["width"]:
            wide[path] = (width, page.evaluate(CULPRITS))
    print(f"fragments, not pages: {fragments}")
    assert len(measured) >= 20, measured  # the list, create, import, workspace tabs, editor, team and account pages
    # the workspace's panels are hidden behind its phone tabs: measure each panel tab under each phone tab
    for tab in ("", "memory/", "archival/", "settings/", "tools/", "folders/"):
        page.goto(f"{base}/agents/{agent.id}/{tab}")
        for phone_tab in page.locator(".mobile-tabs [role=tab]").all():
            phone_tab.click()
            width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
            if width > PHONE["width"]:
                wide[f"/agents/{agent.id}/{tab} ({phone_tab.text_content()})"] = (width, page.evaluate(CULPRITS))
    page.context.clear_cookies()  # signed out: the login page (and whatever a stranger can open)
    for path in ("/login/", f"/join/{'x' * 20}/"):
        page.goto(base + path)
        width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
        if width > PHONE["width"]:
            wide[path] = (width, page.evaluate(CULPRITS))
    page = phone(browser, base, alice)
    assert wide == {}, f"pages wider than {PHONE['width']} px: {wide}"

    page.goto(f"{base}/agents/{agent.id}/")
    page.wait_for_selector("#ws-status.live")
    send(page, "my name is Ada")  # the screenshot shows a turn: the reply and its memory edit
    wait_for_turns(page, 1)
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


def test_desktop_workspace_screenshot_shows_three_panels(browser, live_server_url, scripted_llm, alice):
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
    send(page, "my name is Ada")
    wait_for_turns(page, 1)
    expect(page.locator("#memory-blocks textarea[name=value]").nth(1)).to_have_value(re.compile("Name: Ada"))
    expect(page.locator(".mobile-tabs")).to_be_hidden()
    for panel in ("#left-panel", "#chat-panel", "#right-panel"):
        expect(page.locator(panel)).to_be_visible()
    shot(page, "workspace-1440x900")
    context.close()
