"""The import dialog's choices, as a user meets them (#15 confusing 10): choosing a file shows what it holds before
anything is imported: names already taken, the archival passages it carries (a checkbox), and each model this
server lacks with a select of the models it has. The import then uses the choices: free names kept, the chosen
models, the passages in the agent's archive, the sleep-time companion linked."""

import json
import re

import pytest
from playwright.sync_api import expect

from agents.models import Agent, Group
from memory.models import Passage
from tests.e2e.test_ade import TIMEOUT, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
EVIE = "/work/shared/af-samples/evie.af"


def test_dialog_previews_models_and_passages_then_imports_with_the_choices(browser, live_server_url, alice, tmp_path):
    doc = json.loads(open(EVIE).read())
    doc["archival_passages"] = [
        {"id": "passage-0", "agent_id": "agent-0", "text": "The user's sister is called Maya.", "tags": ["family"]}
    ]
    path = tmp_path / "evie.af"
    path.write_text(json.dumps(doc))
    page = sign_in(browser, live_server_url, alice)
    page.get_by_role("link", name="Import .af").first.click()
    expect(page.locator("#import-box.ws-live")).to_have_count(1)
    page.set_input_files("#af-file", str(path))

    preview = page.locator("#import-preview")
    expect(preview).to_contain_text("does not have 3 of the file's models")
    expect(preview.locator("#af-passages")).to_be_checked()
    expect(preview).to_contain_text("1 archival passage")
    selects = preview.locator("select[name=map_to]")
    expect(selects).to_have_count(3)
    for handle, target in (
        ("anthropic/claude-opus-4-5-20251101", "engram/scripted"),
        ("anthropic/claude-sonnet-4-5-20250929", "engram/scripted"),
        ("openai/text-embedding-3-small", "local/all-minilm-l6-v2"),
    ):
        preview.locator(f"select[data-handle='{handle}']").select_option(target)
    shot(page, "import-preview")
    page.click("#import-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/agents/agent-[0-9a-f-]+/$"), timeout=TIMEOUT * 2)

    evie = Agent.objects.get(organization=alice.organization, name="Evie")
    companion = Agent.objects.get(organization=alice.organization, name="companion-sleeptime_copy")
    assert evie.llm_config["handle"] == companion.llm_config["handle"] == "engram/scripted"
    assert evie.embedding_config["handle"] == "local/all-minilm-l6-v2"
    assert Group.objects.get(manager_agent=evie).agents.get() == companion
    assert list(Passage.objects.filter(archive__agents=evie).values_list("text", flat=True)) == [
        "The user's sister is called Maya."
    ]

    page.goto(f"{live_server_url}/agents/import/")  # again: now the names are taken
    page.set_input_files("#af-file", str(path))
    expect(page.locator("#import-preview")).to_contain_text("Evie (taken)")
    page.set_viewport_size({"width": 390, "height": 844})  # the preview fits a phone
    expect(page.locator("#import-preview select[name=map_to]")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
