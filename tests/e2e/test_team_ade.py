"""A team in three browsers (issue 14): the owner invites an editor and a viewer, both join through their links,
the viewer gets read-only controls and a refusing API, the owner sees the editor's avatar on the block being
edited, the audit log names everyone, and removing the editor stops their open page and key at once."""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from accounts.actions import create_api_key
from accounts.models import User
from agents.actions import create_agent
from tests.e2e.test_ade import PASSWORD, TIMEOUT, block_editor, open_workspace, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def api_status(base: str, key: str, method: str, path: str, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def invite(page, base: str, email: str, role: str) -> str:
    page.goto(f"{base}/members/")
    page.fill("#invite-email", email)
    page.select_option("#invite-role", role)
    page.click("#invite-form button[type=submit]")
    return page.text_content("#invite-link").strip()


def join(browser, link: str, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto(link)
    page.fill("#join-username", username)
    page.fill("#join-password", PASSWORD)
    page.click("#join-form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def test_a_team_in_three_browsers(browser, live_server_url, alice):
    base = live_server_url
    agent = create_agent(alice, {"name": "team agent", "memory_blocks": [{"label": "human", "value": "Ann"}]})
    owner = sign_in(browser, base, alice)

    # 1-2. the owner invites an editor and a viewer; each opens the link and joins
    editor_link = invite(owner, base, "eddie@example.com", "editor")
    viewer_link = invite(owner, base, "vera@example.com", "viewer")
    expect(owner.locator("#invitations")).to_contain_text("eddie@example.com")
    shot(owner, "team-members-invited")
    editor = join(browser, editor_link, "eddie")
    viewer = join(browser, viewer_link, "vera")

    # 3. the viewer sees the agent read-only, and the API refuses the viewer's key
    open_workspace(viewer, base, agent.id)
    expect(viewer.locator("#readonly-note")).to_be_visible()
    expect(block_editor(viewer, "human").locator("textarea[name=value]")).not_to_be_editable()
    expect(block_editor(viewer, "human").locator("button[title^=Save]")).to_be_disabled()
    shot(viewer, "team-viewer-read-only")
    viewer_key = create_api_key(User.objects.get(username="vera"), "viewer key")[1]
    assert api_status(base, viewer_key, "GET", f"/v1/agents/{agent.id}") == 200
    assert api_status(base, viewer_key, "PATCH", f"/v1/agents/{agent.id}", {"name": "mine"}) == 403

    # 4. the editor edits the block; the owner sees the editor's avatar on it while they type
    open_workspace(owner, base, agent.id)
    open_workspace(editor, base, agent.id)
    expect(owner.locator('#presence .avatar[title^="eddie"]')).to_be_visible()
    textarea = block_editor(editor, "human").locator("textarea[name=value]")
    textarea.click()
    textarea.press_sequentially(" and Bo")
    expect(block_editor(owner, "human").locator('.presence-badge[title^="eddie"]')).to_be_visible()
    shot(owner, "team-owner-sees-editor")
    block_editor(editor, "human").locator("button[title^=Save]").click()
    expect(block_editor(editor, "human").locator("[data-saved-note]")).to_be_visible()

    # 5. the audit log shows the invitations, the joins and the edit, with names
    owner.goto(f"{base}/audit/")
    audit = owner.locator("#audit")
    expect(audit.locator('tr[data-action="invitation.create"]')).to_have_count(2)
    expect(audit.locator('tr[data-action="member.join"]', has_text="eddie")).to_have_count(1)
    expect(audit.locator('tr[data-action="member.join"]', has_text="vera")).to_have_count(1)
    expect(audit.locator('tr[data-action="block.update"]', has_text="eddie")).to_have_count(1)
    shot(owner, "team-audit-log")

    # 6. the owner removes the editor: the editor's open page and key stop working at once
    editor_key = create_api_key(User.objects.get(username="eddie"), "editor key")[1]
    assert api_status(base, editor_key, "GET", f"/v1/agents/{agent.id}") == 200
    owner.goto(f"{base}/members/")
    owner.click("#member-eddie form[action$='/remove/'] button")
    expect(owner.locator("#member-eddie")).to_have_count(0)
    expect(editor.locator("#ws-status")).not_to_have_class(re.compile(r"\blive\b"))
    assert api_status(base, editor_key, "GET", f"/v1/agents/{agent.id}") == 401
    with editor.expect_response(re.compile(r"/blocks/.+/save/$")) as saved:
        block_editor(editor, "human").locator("button[title^=Save]").click()
    assert saved.value.status in (403, 404)
